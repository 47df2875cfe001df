"""Is this callback really from ACS? Checks of the JWT ACS signs its callbacks with.

ACS sends `Authorization: Bearer <JWT>` signed RS256 with a key from its JWKS; the audience is
the ACS resource id and the issuer the Call Automation service. Only RS256 is accepted, so a
token signed `none`, or HS256 with the public key as the secret, never verifies. Keys are
cached and fetched again once when a token names a key we do not know (key rotation).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from typing import Any

import httpx
import jwt

__all__ = [
    "CallbackAuthError",
    "JwksCache",
    "JwksUnavailable",
    "check_secret",
    "verify_callback_token",
]

log = logging.getLogger(__name__)

ALGORITHM = "RS256"


class CallbackAuthError(Exception):
    """The callback is not proven to come from ACS; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JwksUnavailable(CallbackAuthError):
    """The signing keys could not be fetched: nothing can be verified (our side's problem)."""


class JwksCache:
    """The JWKS of the token issuer, fetched on demand and kept `ttl_sec`."""

    def __init__(
        self,
        jwks_url: str,
        *,
        ttl_sec: float = 3600,
        http: httpx.AsyncClient | None = None,
        timeout_sec: float = 5.0,
        refetch_cooldown_sec: float = 10.0,
    ) -> None:
        self._url = jwks_url
        self._ttl = ttl_sec
        self._http = http
        self._timeout = timeout_sec
        # Tokens naming unknown keys must not make us fetch the JWKS on every request.
        self._cooldown = refetch_cooldown_sec
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._last_error: str | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0  # successful fetches, for tests and metrics

    async def get_key(self, kid: str) -> jwt.PyJWK:
        """The RS256 key `kid`: fetches the JWKS when stale, or once more when `kid` is new."""
        key = None if self._stale() else self._keys.get(kid)
        if key is None:
            # Stale keys, or a key rotation since the last fetch.
            await self._refresh()
            key = self._keys.get(kid)
        if key is None:
            raise CallbackAuthError(f"unknown signing key {kid!r}")
        return key

    def _stale(self) -> bool:
        return self._fetched_at is None or time.monotonic() - self._fetched_at >= self._ttl

    async def _refresh(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if self._attempted_at is not None and now - self._attempted_at < self._cooldown:
                # Fetched (or tried) a moment ago, possibly while this request waited.
                if self._last_error is not None and not self._keys:
                    raise JwksUnavailable(self._last_error)
                return
            self._attempted_at = now
            try:
                document = await self._fetch()
            except JwksUnavailable as exc:
                self._last_error = exc.reason
                if self._keys:
                    # Keep verifying with the keys we have rather than reject every callback.
                    log.warning("%s; verifying with the cached keys", exc.reason)
                    return
                raise
            self._last_error = None
            self._keys = _rsa_keys(document)
            self._fetched_at = now
            self.fetches += 1

    async def _fetch(self) -> dict[str, Any]:
        try:
            if self._http is not None:
                response = await self._http.get(self._url, timeout=self._timeout)
            else:
                async with httpx.AsyncClient(timeout=self._timeout) as client:
                    response = await client.get(self._url)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise JwksUnavailable(f"JWKS unreachable ({type(exc).__name__}: {exc})") from exc
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise JwksUnavailable("JWKS is not a JSON object with a 'keys' array")
        return document


def _rsa_keys(document: dict[str, Any]) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    for item in document["keys"]:
        if not isinstance(item, dict) or item.get("kty") != "RSA":
            continue  # symmetric or other keys must never verify a callback
        kid = item.get("kid")
        if not isinstance(kid, str) or item.get("use", "sig") != "sig":
            continue
        if item.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            keys[kid] = jwt.PyJWK(item, algorithm=ALGORITHM)
        except jwt.PyJWTError as exc:
            log.warning("JWKS key %s skipped: %s", kid, exc)
    return keys


async def verify_callback_token(
    authorization_header: str | None,
    *,
    jwks: JwksCache,
    audience: str,
    issuer: str,
    leeway_sec: int = 60,
) -> dict[str, Any]:
    """The claims of a valid ACS callback token; `CallbackAuthError` otherwise."""
    if not authorization_header:
        raise CallbackAuthError("missing Authorization header")
    scheme, _, token = authorization_header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise CallbackAuthError("Authorization is not a Bearer token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise CallbackAuthError(f"malformed token: {exc}") from exc
    if header.get("alg") != ALGORITHM:
        raise CallbackAuthError(f"algorithm {header.get('alg')!r} not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise CallbackAuthError("token names no signing key (kid)")
    key = await jwks.get_key(kid)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=issuer,
            leeway=leeway_sec,
            options={"require": ["exp", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise CallbackAuthError("token expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise CallbackAuthError("token not valid yet") from exc
    except jwt.InvalidAudienceError as exc:
        raise CallbackAuthError("wrong audience") from exc
    except jwt.InvalidIssuerError as exc:
        raise CallbackAuthError("wrong issuer") from exc
    except jwt.InvalidSignatureError as exc:
        raise CallbackAuthError("bad signature") from exc
    except jwt.PyJWTError as exc:
        raise CallbackAuthError(f"invalid token: {exc}") from exc
    return claims


def check_secret(expected: str | None, given: str) -> bool:
    """Constant-time comparison; no expected secret never matches."""
    if not expected:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
