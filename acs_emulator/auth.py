"""Both directions of ACS authentication: HMAC on requests in, RS256 JWTs on callbacks out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from acs_emulator.errors import denied

SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"
_AUTH_PREFIX = f"HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}&Signature="


def content_hash(body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(body).digest()).decode()


def sign(access_key: str, verb: str, path_and_query: str, date: str, host: str, body: bytes) -> str:
    """The signature the SDK's HMACCredentialsPolicy computes."""
    string_to_sign = f"{verb.upper()}\n{path_and_query}\n{date};{host};{content_hash(body)}"
    digest = hmac.new(base64.b64decode(access_key), string_to_sign.encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def verify_hmac(
    *,
    access_key: str,
    method: str,
    raw_path: str,
    headers: Mapping[str, str],
    body: bytes,
    max_skew_s: float,
) -> None:
    """Raise a 401 AcsError unless the request is signed with this resource's key."""
    auth = headers.get("Authorization")
    date = headers.get("x-ms-date")
    claimed_hash = headers.get("x-ms-content-sha256")
    host = headers.get("Host")
    if not auth or not date or claimed_hash is None or not host:
        raise denied("missing Authorization, x-ms-date, x-ms-content-sha256 or Host header")
    if not auth.startswith(_AUTH_PREFIX):
        raise denied(f"Authorization must start with {_AUTH_PREFIX!r}")
    if not hmac.compare_digest(claimed_hash, content_hash(body)):
        raise denied("x-ms-content-sha256 does not match the body")
    try:
        sent_at = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError) as exc:
        raise denied(f"x-ms-date is not an RFC 1123 date: {date!r}") from exc
    if abs(time.time() - sent_at) > max_skew_s:
        raise denied(f"x-ms-date {date!r} is more than {max_skew_s:.0f} s from now")
    given = auth[len(_AUTH_PREFIX) :]
    # The SDK signs the URL it built; clients that re-quote it are still accepted unquoted.
    for path in dict.fromkeys((raw_path, unquote(raw_path))):
        expected = sign(access_key, method, path, date, host, body)
        if hmac.compare_digest(given, expected):
            return
    raise denied("HMAC signature does not match")


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TokenSigner:
    """The emulator's own RSA key: signs callback JWTs and publishes the JWKS."""

    def __init__(self, *, issuer: str, audience: str, lifetime_s: int = 300) -> None:
        self.issuer = issuer
        self.audience = audience
        self.lifetime_s = lifetime_s
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self._key.public_key().public_numbers()
        self._n = _b64url_uint(numbers.n)
        self._e = _b64url_uint(numbers.e)
        self.kid = hashlib.sha256(self._n.encode()).hexdigest()[:32]

    def jwks(self) -> dict[str, Any]:
        key = {"kty": "RSA", "use": "sig", "kid": self.kid, "n": self._n, "e": self._e}
        return {"keys": [{**key, "alg": "RS256"}]}

    def token(self) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime_s,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})
