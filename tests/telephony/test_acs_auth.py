"""ACS callback token checks, against a JWKS served by a local HTTP server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from api.acs_auth import (
    CallbackAuthError,
    JwksCache,
    JwksUnavailable,
    check_secret,
    verify_callback_token,
)

AUDIENCE = "4a6b0e1c-2f3d-4e5f-8a9b-0c1d2e3f4a5b"  # the ACS resource id
ISSUER = "https://acscallautomation.communication.azure.com"


def _private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY = _private_key()
ROTATED = _private_key()
STRANGER = _private_key()


def _jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "use": "sig", "alg": "RS256"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "aud": AUDIENCE,
        "iss": ISSUER,
        "iat": now - 5,
        "nbf": now - 5,
        "exp": now + 300,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _token(key: rsa.RSAPrivateKey = KEY, kid: str | None = "k1", **claims: Any) -> str:
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(_claims(**claims), key, algorithm="RS256", headers=headers)


@dataclass
class FakeJwks:
    """Serves the issuer's keys; `keys` can be swapped to simulate a rotation."""

    keys: list[dict[str, Any]] = field(default_factory=list)
    hits: int = 0
    failing: bool = False
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.failing:
            return web.Response(status=503, text="unavailable")
        return web.json_response({"keys": self.keys})


@pytest.fixture
async def issuer() -> AsyncIterator[FakeJwks]:
    fake = FakeJwks(
        keys=[
            _jwk(KEY, "k1"),
            # A symmetric key under a known-looking kid must never verify anything.
            {"kty": "oct", "kid": "sym", "k": _b64(b"secret"), "alg": "HS256"},
        ]
    )
    app = web.Application()
    app.router.add_get("/calling/keys", fake.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    fake.url = str(server.make_url("/calling/keys"))
    yield fake
    await server.close()


@pytest.fixture
def jwks(issuer: FakeJwks) -> JwksCache:
    return JwksCache(issuer.url, refetch_cooldown_sec=0)


async def _verify(token: str | None, jwks: JwksCache, *, bearer: bool = True, **kw: Any) -> Any:
    header = f"Bearer {token}" if bearer and token is not None else token
    return await verify_callback_token(
        header, jwks=jwks, audience=AUDIENCE, issuer=ISSUER, leeway_sec=kw.pop("leeway", 60), **kw
    )


async def test_valid_token(jwks: JwksCache, issuer: FakeJwks) -> None:
    claims = await _verify(_token(), jwks)
    assert claims["aud"] == AUDIENCE and claims["iss"] == ISSUER
    # The keys are cached: a second callback does not fetch them again.
    await _verify(_token(), jwks)
    assert issuer.hits == 1 and jwks.fetches == 1


async def test_bearer_scheme_is_case_insensitive(jwks: JwksCache) -> None:
    await verify_callback_token(f"bearer {_token()}", jwks=jwks, audience=AUDIENCE, issuer=ISSUER)


async def test_expired_beyond_leeway(jwks: JwksCache) -> None:
    now = int(time.time())
    with pytest.raises(CallbackAuthError, match="expired"):
        await _verify(_token(exp=now - 120, iat=now - 600, nbf=now - 600), jwks, leeway=60)


async def test_expired_within_leeway(jwks: JwksCache) -> None:
    now = int(time.time())
    await _verify(_token(exp=now - 30, iat=now - 600, nbf=now - 600), jwks, leeway=60)


async def test_not_valid_yet(jwks: JwksCache) -> None:
    now = int(time.time())
    with pytest.raises(CallbackAuthError, match="not valid yet"):
        await _verify(_token(nbf=now + 600, exp=now + 900), jwks, leeway=60)


async def test_wrong_audience(jwks: JwksCache) -> None:
    with pytest.raises(CallbackAuthError, match="wrong audience"):
        await _verify(_token(aud="another-acs-resource"), jwks)


async def test_wrong_issuer(jwks: JwksCache) -> None:
    with pytest.raises(CallbackAuthError, match="wrong issuer"):
        await _verify(_token(iss="https://attacker.example"), jwks)


@pytest.mark.parametrize("missing", ["exp", "aud", "iss"])
async def test_required_claims(jwks: JwksCache, missing: str) -> None:
    with pytest.raises(CallbackAuthError, match=missing):
        await _verify(_token(KEY, "k1", **{missing: None}), jwks)


async def test_signed_by_another_key(jwks: JwksCache) -> None:
    with pytest.raises(CallbackAuthError, match="bad signature"):
        await _verify(_token(STRANGER, kid="k1"), jwks)


async def test_alg_none_is_refused(jwks: JwksCache, issuer: FakeJwks) -> None:
    token = jwt.encode(_claims(), "", algorithm="none", headers={"kid": "k1"})
    with pytest.raises(CallbackAuthError, match="'none' not accepted"):
        await _verify(token, jwks)
    assert issuer.hits == 0  # refused before any key is looked up


def _hs256(secret: bytes, kid: str, alg: str = "HS256") -> str:
    header = _b64(json.dumps({"alg": alg, "typ": "JWT", "kid": kid}).encode())
    payload = _b64(json.dumps(_claims()).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


async def test_hs256_with_the_public_key_is_refused(jwks: JwksCache) -> None:
    # The classic confusion: HMAC "signed" with the RSA public key, which anyone can fetch.
    public_pem = KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(CallbackAuthError, match="'HS256' not accepted"):
        await _verify(_hs256(public_pem, "k1"), jwks)
    # Same trick, lying about the algorithm: the signature does not verify as RS256.
    with pytest.raises(CallbackAuthError, match="bad signature"):
        await _verify(_hs256(public_pem, "k1", alg="RS256"), jwks)


async def test_symmetric_keys_in_the_jwks_are_ignored(jwks: JwksCache) -> None:
    with pytest.raises(CallbackAuthError, match="'HS256' not accepted"):
        await _verify(_hs256(b"secret", "sym"), jwks)
    with pytest.raises(CallbackAuthError, match="unknown signing key 'sym'"):
        await _verify(_hs256(b"secret", "sym", alg="RS256"), jwks)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing Authorization"),
        ("", "missing Authorization"),
        ("Bearer", "not a Bearer token"),
        ("Bearer   ", "not a Bearer token"),
        ("Basic dXNlcjpwYXNz", "not a Bearer token"),
        ("Bearer not-a-jwt", "malformed token"),
        ("Bearer a.b.c", "malformed token"),
    ],
)
async def test_missing_or_garbled_header(jwks: JwksCache, header: str | None, reason: str) -> None:
    with pytest.raises(CallbackAuthError, match=reason):
        await _verify(header, jwks, bearer=False)


async def test_token_without_kid(jwks: JwksCache) -> None:
    with pytest.raises(CallbackAuthError, match="kid"):
        await _verify(_token(kid=None), jwks)


async def test_unknown_kid_refetches_once(jwks: JwksCache, issuer: FakeJwks) -> None:
    await _verify(_token(), jwks)
    assert issuer.hits == 1
    issuer.keys = [_jwk(ROTATED, "k2")]  # the issuer rotates its key
    await _verify(_token(ROTATED, kid="k2"), jwks)
    assert issuer.hits == 2
    # A kid still unknown after the refetch: one fetch for it, then refused.
    with pytest.raises(CallbackAuthError, match="unknown signing key 'k9'"):
        await _verify(_token(ROTATED, kid="k9"), jwks)
    assert issuer.hits == 3


async def test_unknown_kids_do_not_hammer_the_jwks(issuer: FakeJwks) -> None:
    jwks = JwksCache(issuer.url)  # the default cool-down between fetches
    await _verify(_token(), jwks)
    for _ in range(5):
        with pytest.raises(CallbackAuthError, match="unknown signing key"):
            await _verify(_token(kid="bogus"), jwks)
    assert issuer.hits == 1


async def test_jwks_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    jwks = JwksCache(f"http://127.0.0.1:{port}/calling/keys", timeout_sec=2)
    with pytest.raises(CallbackAuthError, match="JWKS unreachable") as caught:
        await _verify(_token(), jwks)
    assert isinstance(caught.value, JwksUnavailable)


async def test_jwks_error_status(issuer: FakeJwks, jwks: JwksCache) -> None:
    issuer.failing = True
    with pytest.raises(JwksUnavailable, match="JWKS unreachable"):
        await _verify(_token(), jwks)


async def test_jwks_not_a_key_set(issuer: FakeJwks) -> None:
    async def not_a_key_set(request: web.Request) -> web.Response:
        return web.json_response(["nope"])

    app = web.Application()
    app.router.add_get("/keys", not_a_key_set)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        jwks = JwksCache(str(server.make_url("/keys")))
        with pytest.raises(JwksUnavailable, match="'keys' array"):
            await _verify(_token(), jwks)
    finally:
        await server.close()


async def test_cached_keys_survive_a_jwks_outage(issuer: FakeJwks) -> None:
    jwks = JwksCache(issuer.url, ttl_sec=0, refetch_cooldown_sec=0)  # always stale
    await _verify(_token(), jwks)
    issuer.failing = True
    await _verify(_token(), jwks)
    assert issuer.hits == 2 and jwks.fetches == 1


async def test_shared_http_client(issuer: FakeJwks) -> None:
    async with httpx.AsyncClient() as http:
        jwks = JwksCache(issuer.url, http=http)
        await _verify(_token(), jwks)
    assert issuer.hits == 1


def test_check_secret() -> None:
    assert check_secret("s3cr3t-value", "s3cr3t-value")
    assert not check_secret("s3cr3t-value", "s3cr3t-valuf")
    assert not check_secret("s3cr3t-value", "")
    assert not check_secret(None, "")
    assert not check_secret("", "")
    assert check_secret("é-ünïcode", "é-ünïcode")
