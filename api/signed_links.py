"""Signed, expiring links to the report pages, opened without the API key.

A link is a path under `/signed/` with its query, plus `exp` (Unix seconds) and `sig`: an
HMAC-SHA256 (`core/call_secrets.derive`, its own purpose) of the expiry, the path and every
other query parameter, under `telephony.call_secret_key`. Whoever holds the key checks a link
again; nothing is stored, so a link cannot be revoked before it expires except by changing
the key (which ends every link at once).
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from pydantic import SecretStr

from core.call_secrets import derive

PURPOSE = "signed-report-link"
PREFIX = "/signed"
MAX_TTL = timedelta(days=30)
DEFAULT_TTL = timedelta(days=7)
RESERVED = ("exp", "sig")


class LinkRefused(Exception):
    """The link is expired, tampered with or malformed (the message says which)."""


def _canonical(path: str, params: dict[str, str], exp: int) -> str:
    # Sorted so the same parameters in any order sign the same; urlencode escapes separators.
    query = urlencode(sorted(params.items()))
    return f"{exp}\0{path}\0{query}"


def sign(
    key: SecretStr, path: str, params: dict[str, str], *, ttl: timedelta, now: datetime
) -> tuple[str, datetime]:
    """The signed URL (path and query) of `path` with `params`, and when it expires.

    Raises:
        ValueError: `path` is not under `/signed/`, `ttl` is not in (0, 30 days], or a
            parameter is named `exp` or `sig`.
    """
    if not path.startswith(PREFIX + "/"):
        raise ValueError(f"signed links are under {PREFIX}/")
    if not timedelta(0) < ttl <= MAX_TTL:
        raise ValueError(f"a link lives more than 0 s and at most {MAX_TTL.days} days")
    if any(name in params for name in RESERVED):
        raise ValueError("exp and sig are reserved parameter names")
    expires = now.astimezone(UTC) + ttl
    exp = int(expires.timestamp())
    sig = derive(key, PURPOSE, _canonical(path, params, exp))
    return f"{path}?{urlencode([*sorted(params.items()), ('exp', exp), ('sig', sig)])}", expires


def verify(key: SecretStr, path: str, query: list[tuple[str, str]], *, now: datetime) -> None:
    """Accepts the link, or raises.

    Raises:
        LinkRefused: No or a repeated `exp`/`sig`, a repeated parameter, a signature that
            does not match (tampered), or an expiry in the past.
    """
    names = [name for name, _ in query]
    if len(set(names)) != len(names):
        raise LinkRefused("this link repeats a parameter")
    params = dict(query)
    exp_text, sig = params.pop("exp", ""), params.pop("sig", "")
    if not exp_text.isdigit() or not sig:
        raise LinkRefused("this link is not signed")
    exp = int(exp_text)
    expected = derive(key, PURPOSE, _canonical(path, params, exp))
    if not hmac.compare_digest(expected.encode(), sig.encode()):
        raise LinkRefused("this link's signature does not match (it was altered)")
    if now.astimezone(UTC).timestamp() >= exp:
        raise LinkRefused("this link has expired")
