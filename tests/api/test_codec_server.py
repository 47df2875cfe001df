"""The codec server over real HTTP: what the Temporal UI and CLI call to read encrypted payloads."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType

from api.deps import Services
from api.main import create_app
from api.routes.codec import COOKIE
from core.codec import ENCODING, KEY_ID, EncryptionCodec
from core.settings import ApiSettings, Settings
from tests.api.test_report import serve
from tests.conftest import Stack
from tests.support.codec import TEST_CODEC

API_KEY = "codec-test-api-key-0123456789abcdef"
UI = "http://127.0.0.1:8233"  # the default temporal.ui_url, whose origin the codec allows


def as_json(payload: Payload) -> dict[str, object]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


def plain(value: object) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())


def text_of(payload: dict[str, object]) -> str:
    return base64.b64decode(str(payload["data"])).decode(errors="replace")


@asynccontextmanager
async def codec_api(stack: Stack, keys: list[str]) -> AsyncIterator[httpx.AsyncClient]:
    settings: Settings = stack.settings.model_copy(
        update={"api": ApiSettings(keys=[SecretStr(k) for k in keys])}
    )
    services = Services(settings, stack.client, stack.store, stack.redis)
    async with (
        serve(create_app(settings, services)) as base,
        httpx.AsyncClient(base_url=f"{base}/codec", timeout=30) as http,
    ):
        yield http


async def encrypted_start_input(stack: Stack, call_id: str) -> dict[str, object]:
    """The call's workflow input as the Temporal server stores it (and the UI receives it)."""
    handle = stack.client.get_workflow_handle(f"call-{call_id}")
    history = await handle.fetch_history()
    started = next(
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    )
    (payload,) = started.workflow_execution_started_event_attributes.input.payloads
    return as_json(payload)


async def test_the_ui_decodes_a_real_call_input_and_encodes_back(stack: Stack) -> None:
    call_id = await stack.start_call(phone_number="+33612000042")
    stored = await encrypted_start_input(stack, call_id)
    # What Temporal stores is encrypted: no number, a key id for rotation.
    assert "+33612000042" not in text_of(stored)
    metadata = stored["metadata"]
    assert isinstance(metadata, dict)
    assert base64.b64decode(metadata["encoding"]) == ENCODING
    assert base64.b64decode(metadata[KEY_ID]).decode() == TEST_CODEC.current_key

    async with codec_api(stack, keys=[]) as http:  # the offline default: no API keys
        headers = {"Origin": UI, "X-Namespace": "default"}
        decoded = await http.post("/decode", json={"payloads": [stored]}, headers=headers)
        assert decoded.status_code == 200, decoded.text
        assert decoded.headers["access-control-allow-origin"] == UI
        (payload,) = decoded.json()["payloads"]
        call_input = json.loads(text_of(payload))
        assert call_input["call_id"] == call_id
        assert call_input["initiate"]["phone_number"] == "+33612000042"

        encoded = await http.post("/encode", json={"payloads": [as_json(plain({"a": 1}))]})
        assert encoded.status_code == 200
        (sealed,) = encoded.json()["payloads"]
        assert '"a"' not in text_of(sealed)
        back = await http.post("/decode", json={"payloads": [sealed]})
        assert json.loads(text_of(back.json()["payloads"][0])) == {"a": 1}
        # Payloads written before encryption was on come back as they are.
        old = await http.post("/decode", json={"payloads": [as_json(plain("x"))]})
        assert text_of(old.json()["payloads"][0]) == '"x"'


async def test_cors_answers_only_the_ui_origin(stack: Stack) -> None:
    async with codec_api(stack, keys=[API_KEY]) as http:
        preflight = {
            "Origin": UI,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace",
        }
        answer = await http.options("/decode", headers=preflight)
        assert answer.status_code == 204
        assert answer.headers["access-control-allow-origin"] == UI
        assert answer.headers["access-control-allow-credentials"] == "true"
        assert "POST" in answer.headers["access-control-allow-methods"]
        allowed = answer.headers["access-control-allow-headers"]
        assert "x-namespace" in allowed and "content-type" in allowed

        for origin in ("https://evil.example", "http://127.0.0.1:9999"):
            refused = await http.options("/decode", headers={**preflight, "Origin": origin})
            assert refused.status_code == 403
            assert "access-control-allow-origin" not in refused.headers
            post = await http.post(
                "/decode",
                json={"payloads": []},
                headers={"Origin": origin, "X-API-Key": API_KEY},
            )
            assert "access-control-allow-origin" not in post.headers


async def test_with_api_keys_the_codec_needs_one(stack: Stack) -> None:
    sealed = as_json(EncryptionCodec.from_settings(TEST_CODEC).encrypt(plain("secret words")))
    body = {"payloads": [sealed]}
    async with codec_api(stack, keys=[API_KEY]) as http:
        for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
            refused = await http.post("/decode", json=body, headers=headers)
            assert refused.status_code == 401
            assert "secret words" not in refused.text
        for headers in ({"X-API-Key": API_KEY}, {"Authorization": f"Bearer {API_KEY}"}):
            accepted = await http.post("/decode", json=body, headers=headers)
            assert accepted.status_code == 200
            assert text_of(accepted.json()["payloads"][0]) == '"secret words"'

        # The browser's way: a session cookie, HttpOnly and SameSite=Strict, holding no key.
        assert (await http.post("/session", headers={"X-API-Key": "wrong"})).status_code == 401
        opened = await http.post("/session", headers={"X-API-Key": API_KEY})
        assert opened.status_code == 204
        cookie = opened.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/codec" in cookie
        assert API_KEY not in cookie
        value = opened.cookies[COOKIE]
        http.cookies.clear()
        with_cookie = await http.post("/decode", json=body, cookies={COOKIE: value})
        assert with_cookie.status_code == 200
        expires, _, signature = value.partition(".")
        forged = f"{int(expires) + 3600}.{signature}"  # a longer life is not signed
        assert (await http.post("/decode", json=body, cookies={COOKIE: forged})).status_code == 401
        expired = f"{int(time.time()) - 1}.{signature}"
        assert (await http.post("/decode", json=body, cookies={COOKIE: expired})).status_code == 401

        # From a browser: a form (no script, a strict CSP) posts the key once.
        form = await http.get("/session")
        assert form.status_code == 200 and 'type="password"' in form.text
        assert "default-src 'none'" in form.headers["content-security-policy"]
        wrong = await http.post("/session", data={"key": "wrong"})
        assert wrong.status_code == 401 and COOKIE not in wrong.cookies
        http.cookies.clear()
        opened = await http.post("/session", data={"key": API_KEY})
        assert opened.status_code == 200 and "session open" in opened.text
        assert (await http.post("/decode", json=body)).status_code == 200  # the cookie jar's


async def test_the_key_is_checked_before_the_body_is_read_and_bodies_are_capped(
    stack: Stack,
) -> None:
    huge = b'{"payloads": [' + b" " * (9 * 1024 * 1024) + b"]}"
    headers = {"Content-Type": "application/json"}
    async with codec_api(stack, keys=[API_KEY]) as http:
        refused = await http.post("/decode", content=huge, headers=headers)
        assert refused.status_code == 401
        too_big = await http.post(
            "/decode", content=huge, headers={**headers, "X-API-Key": API_KEY}
        )
        assert too_big.status_code == 413
        form = await http.post("/session", data={"key": "k" * 5_000})
        assert form.status_code == 413


async def test_bad_payloads_are_a_400_not_a_500(stack: Stack) -> None:
    foreign = EncryptionCodec({"other": b"k" * 32}, "other").encrypt(plain("x"))
    tampered = EncryptionCodec.from_settings(TEST_CODEC).encrypt(plain("x"))
    tampered.data = tampered.data[:-1] + bytes([tampered.data[-1] ^ 1])
    async with codec_api(stack, keys=[]) as http:
        for body in (
            {"payloads": [as_json(foreign)]},  # a key id this deployment does not have
            {"payloads": [as_json(tampered)]},  # GCM's tag no longer matches
            {"payloads": "nope"},
            {"payloads": [{"metadata": {"encoding": "not base64!"}}]},
            [1, 2],
            {"payloads": [1]},
        ):
            answer = await http.post("/decode", json=body)
            assert answer.status_code == 400, (body, answer.text)
        for raw in (b"[" * 100_000, b"not json", b'{"payloads": [{"data": 5}]}'):
            answer = await http.post(
                "/decode", content=raw, headers={"Content-Type": "application/json"}
            )
            assert answer.status_code == 400, (raw[:40], answer.text)
