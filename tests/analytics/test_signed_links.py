"""Signed, expiring links: the signature covers the path and every parameter, and expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from pydantic import SecretStr

from api.signed_links import LinkRefused, sign, verify

KEY = SecretStr("k" * 40)
NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
PARAMS = {"start": "2025-06-01", "end": "2025-06-07", "campaign_id": "spring"}


def signed(ttl: timedelta = timedelta(hours=1)) -> tuple[str, list[tuple[str, str]]]:
    url, expires = sign(KEY, "/signed/analytics", PARAMS, ttl=ttl, now=NOW)
    assert expires == NOW + ttl
    parts = urlsplit(url)
    return parts.path, parse_qsl(parts.query)


def test_a_fresh_link_is_accepted_until_it_expires() -> None:
    path, query = signed()
    verify(KEY, path, query, now=NOW)
    verify(KEY, path, list(reversed(query)), now=NOW + timedelta(minutes=59))  # any order
    with pytest.raises(LinkRefused, match="expired"):
        verify(KEY, path, query, now=NOW + timedelta(hours=1))


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda p, q: (p, [(k, "2025-01-01" if k == "start" else v) for k, v in q]), "altered"),
        (lambda p, q: (p, [(k, v) for k, v in q if k != "campaign_id"]), "altered"),
        (lambda p, q: (p, [*q, ("campaign_id", "other")]), "repeats"),
        (lambda p, q: (p, [*q, ("extra", "1")]), "altered"),
        (lambda p, q: ("/signed/report/abc", q), "altered"),
        (lambda p, q: (p, [(k, str(int(v) + 3600) if k == "exp" else v) for k, v in q]), "altered"),
        (lambda p, q: (p, [(k, v) for k, v in q if k != "sig"]), "not signed"),
        (lambda p, q: (p, [(k, "soon" if k == "exp" else v) for k, v in q]), "not signed"),
    ],
)
def test_a_tampered_link_is_refused(change, reason) -> None:  # type: ignore[no-untyped-def]
    path, query = change(*signed())
    with pytest.raises(LinkRefused, match=reason):
        verify(KEY, path, query, now=NOW)


def test_another_key_does_not_verify() -> None:
    path, query = signed()
    with pytest.raises(LinkRefused, match="altered"):
        verify(SecretStr("o" * 40), path, query, now=NOW)


@pytest.mark.parametrize(
    ("path", "params", "ttl", "message"),
    [
        ("/report/x", {}, timedelta(hours=1), "under /signed/"),
        ("/signed/analytics", {}, timedelta(0), "at most 30 days"),
        ("/signed/analytics", {}, timedelta(days=31), "at most 30 days"),
        ("/signed/analytics", {"sig": "x"}, timedelta(hours=1), "reserved"),
    ],
)
def test_bad_link_requests_are_refused(
    path: str, params: dict[str, str], ttl: timedelta, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        sign(KEY, path, params, ttl=ttl, now=NOW)
