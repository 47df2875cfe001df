"""Bodies nested too deep are refused before `json.loads` recurses into them."""

from __future__ import annotations

import json
import sys

import pytest

from api.json_body import MAX_DEPTH, JsonTooDeep, nesting, read_json


def test_brackets_inside_strings_do_not_count() -> None:
    body = json.dumps({"text": "[" * 1_000 + '\\"{' * 500, "list": [[1], {"a": [2]}]}).encode()
    assert nesting(body) == 4  # the object, "list", {"a": …} and [2]
    assert read_json(body)["list"] == [[1], {"a": [2]}]


def test_nesting_at_the_limit_parses_and_one_more_is_refused() -> None:
    assert read_json(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is not None
    with pytest.raises(JsonTooDeep, match="too deep"):
        read_json(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1))


def test_a_body_deeper_than_the_recursion_limit_never_reaches_the_parser() -> None:
    depth = sys.getrecursionlimit() * 100
    with pytest.raises(JsonTooDeep):
        read_json(b"{" * depth)  # unbalanced too: refused on depth before any parse error


def test_malformed_json_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        read_json(b'{"a": ')
