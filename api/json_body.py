"""Request bodies parsed as JSON without deep recursion.

`json.loads` recurses once per nesting level: a body of 100,000 `[` takes it to the interpreter's
recursion limit, and whatever runs at that depth (a finaliser the garbage collector calls, a log
handler) fails too. Nesting is measured first, in one pass over the bytes, and a body nested
deeper than any real webhook or codec request is refused before it is parsed.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 64
_OPEN, _CLOSE, _QUOTE, _BACKSLASH = frozenset(b"[{"), frozenset(b"]}"), ord('"'), ord("\\")


class JsonTooDeep(ValueError):
    """The body nests arrays or objects deeper than `MAX_DEPTH`."""


def nesting(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in `raw`, brackets inside strings ignored."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return 0  # too few brackets to be too deep: skip the scan
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in _CLOSE:
            depth -= 1
    return deepest


def read_json(raw: bytes) -> Any:
    """The body as JSON; raises `ValueError` (`JsonTooDeep` for deep nesting) when it is not."""
    if nesting(raw) > MAX_DEPTH:
        raise JsonTooDeep(f"JSON nested too deep (more than {MAX_DEPTH} levels)")
    return json.loads(raw)
