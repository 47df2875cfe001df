"""The API checks before it reads: the key before the body, a cap on every body, a 4xx with a
reason for input that can never succeed, no schema or exception text for strangers, `nosniff`.

Against the real app on the real stack (Temporal dev server, Redis, SQLite), over ASGI and over
a real uvicorn socket where what matters is what the server read off the wire.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis

from api.deps import Services
from api.guard import DEFAULT_RULE, RULES, rule_for
from api.main import create_app
from core.settings import Settings
from providers.sms.twilio import twilio_signature
from tests.conftest import Stack
from tests.telephony.test_acs_auth import _token
from tests.telephony.test_acs_auth import issuer as issuer  # noqa: F401 - the JWKS fixture
from tests.telephony.test_callback_security import bearer, cloud_event, open_call
from tests.telephony.test_callback_security import phone_api as phone_api  # noqa: F401 - fixture

API_KEY = "hardening-test-api-key-0123456789"
log = logging.getLogger(__name__)
KEY = {"X-API-Key": API_KEY}
TWILIO_TOKEN = "twilio-auth-token"
PUBLIC = "https://callcenter.example.com"


def hardened_settings(stack: Stack, **changes: Any) -> Settings:
    data = stack.settings.model_dump()
    data["api"] = {"keys": [API_KEY]}
    data["sms"] = {
        **data["sms"],
        "twilio": {
            "account_sid": "AC1",
            "auth_token": TWILIO_TOKEN,
            "phone_number": "+15005550006",
        },
    }
    data["telephony"] = {**data["telephony"], "public_url": PUBLIC}
    data.update(changes)
    return Settings.model_validate(data)


def app_for(stack: Stack, settings: Settings) -> FastAPI:
    return create_app(settings, Services(settings, stack.client, stack.store, stack.redis))


@asynccontextmanager
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", timeout=30) as c:
        yield c


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[int]:
    """The app behind a real uvicorn socket on a free loopback port."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    port: int = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.should_exit = True
        await task


class Trickle:
    """A request body that sends one chunk, then hangs: only a server that answers without
    reading the rest answers at all. Counts the chunks the server pulled."""

    def __init__(self) -> None:
        self.pulled = 0
        self.never = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.pulled += 1
        yield b"{" + b" " * 1_000
        self.pulled += 1
        await self.never.wait()
        yield b"}"


# --- the key before the body ------------------------------------------------------------------


async def test_a_keyless_request_is_refused_before_its_body_is_read(stack: Stack) -> None:
    app = app_for(stack, hardened_settings(stack))
    call_id = "3f1c0c3e-0000-4000-8000-000000000000"
    async with client(app) as http:
        for path in ("/call", f"/call/{call_id}/messages", "/openapi.json", "/nowhere"):
            body = Trickle()
            answer = await asyncio.wait_for(http.post(path, content=body), 5)
            assert answer.status_code == 401, (path, answer.text)
            assert "X-API-Key" in answer.json()["error"]["message"]
            assert body.pulled == 0, path  # not one chunk of the body was asked for


async def test_over_a_socket_100_mb_without_a_key_is_answered_401_unread(stack: Stack) -> None:
    """Four clients announce 100 MB each and send 64 KB: each gets its 401 while the rest of
    its body is still unsent, so the server read at most what it was given."""
    async with served(app_for(stack, hardened_settings(stack))) as port:

        async def post_huge() -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            head = (
                "POST /call HTTP/1.1\r\nHost: api\r\nContent-Type: application/json\r\n"
                f"Content-Length: {100 * 1024 * 1024}\r\n\r\n"
            )
            writer.write(head.encode() + b" " * 65_536)
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(4_096), 5)
            writer.close()
            return answer

        answers = await asyncio.gather(*(post_huge() for _ in range(4)))
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert b"nosniff" in answer.lower()


async def test_four_clients_pushing_100_mb_without_a_key_leave_memory_flat(
    stack: Stack,
) -> None:
    """The issue's measurement: four concurrent 100 MB bodies without a key took the API from
    182 MB to 1.09 GB. Now each is answered 401 and its connection closed while it pushes."""
    async with served(app_for(stack, hardened_settings(stack))) as port:
        before = rss_bytes()

        async def push_100_mb() -> tuple[bytes, int]:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            size = 100 * 1024 * 1024
            head = f"POST /call HTTP/1.1\r\nHost: api\r\nContent-Length: {size}\r\n\r\n"
            writer.write(head.encode())
            answer = asyncio.create_task(reader.read(4_096))  # read while pushing
            chunk, sent = b" " * 1024 * 1024, 0
            try:
                while sent < size and not answer.done():
                    writer.write(chunk)
                    await asyncio.wait_for(writer.drain(), 5)
                    sent += len(chunk)
            except (ConnectionError, TimeoutError):
                pass  # the server answered and closed: the rest is never taken
            got = await asyncio.wait_for(answer, 5)
            writer.close()
            return got, sent

        results = await asyncio.gather(*(push_100_mb() for _ in range(4)))
        grown = rss_bytes() - before
    for answer, _ in results:
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert grown < 40 * 1024 * 1024, f"RSS grew {grown / 2**20:.0f} MiB"
    sent = sum(s for _, s in results)
    log.info("4 x 100 MB without a key: %d MiB pushed, RSS %+.1f MiB", sent >> 20, grown / 2**20)


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


# --- body caps ----------------------------------------------------------------------------


async def test_bodies_over_the_route_cap_are_413_with_the_error_shape(stack: Stack) -> None:
    app = app_for(stack, hardened_settings(stack))
    assert rule_for("/call").max_body == DEFAULT_RULE.max_body == 64 * 1024
    big = b'{"phone_number": "+33612345678", "task": "' + b"x" * 70_000 + b'"}'

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it is read
        for _ in range(10):
            yield b" " * 10_000

    async with client(app) as http:
        declared = await http.post("/call", content=big, headers=KEY)
        streamed = await http.post("/call", content=chunked(), headers=KEY)
        form = {"From": "+33612345678", "To": "+15005550006", "MessageSid": "SM1"}
        twilio = await http.post("/twilio/sms", data={**form, "Body": "x" * 70_000})
        grid_keyless = await http.post("/eventgrid/events", content=b" " * (2 * 1024 * 1024))
        grid = await http.post(
            "/eventgrid/events?secret=eg-secret", content=b" " * (2 * 1024 * 1024)
        )
    for answer in (declared, streamed, twilio):
        assert answer.status_code == 413, answer.text
        assert "over" in answer.json()["error"]["message"]
    # Event Grid is not configured in these settings: its own check answers before the cap.
    assert grid_keyless.status_code == grid.status_code == 404


async def test_every_cap_is_documented_and_sized_for_its_route() -> None:
    caps = {r.prefix: r.max_body for r in RULES}
    assert caps["/codec/"] == 8 * 1024 * 1024  # a page of history events
    assert caps["/eventgrid/"] == 1024 * 1024  # Event Grid's batch limit
    assert max(caps.values()) == caps["/codec/"]
    assert rule_for("/call/x/messages") == rule_for("/report") == DEFAULT_RULE


# --- 400 with a reason, not 500 -------------------------------------------------------------


@pytest.fixture
async def grid(
    phone_api: tuple[httpx.AsyncClient, Settings],
) -> tuple[httpx.AsyncClient, Settings]:
    return phone_api


async def test_deep_json_and_empty_texts_on_event_grid_are_400(
    stack: Stack, grid: tuple[httpx.AsyncClient, Settings]
) -> None:
    http, _ = grid
    url = "/eventgrid/events?secret=eg-secret"
    deep = await http.post(url, content=b"[" * 100_000 + b"]" * 100_000)
    assert deep.status_code == 400 and "too deep" in deep.json()["error"]["message"]

    empty_sms: dict[str, Any] = {
        "id": "sms-empty-1",
        "eventType": "Microsoft.Communication.SMSReceived",
        "eventTime": "2026-11-25T10:00:00Z",
        "data": {
            "messageId": "sms-empty-1",
            "from": "+33612000091",
            "to": "+14255550100",
            "message": "   ",
            "receivedTimestamp": "2026-11-25T10:00:00Z",
        },
    }
    refused = await http.post(url, json=[empty_sms])
    assert refused.status_code == 400, refused.text
    assert "no text" in refused.json()["error"]["message"]
    no_message = {
        **empty_sms,
        "data": {k: v for k, v in empty_sms["data"].items() if k != "message"},
    }
    assert (await http.post(url, json=[no_message])).status_code == 400
    # Nothing was acted on: no conversation for that number.
    assert await stack.store.latest_for_phone("+33612000091", since=_ever()) is None


async def test_malformed_callback_events_are_400(
    stack: Stack, grid: tuple[httpx.AsyncClient, Settings]
) -> None:
    http, _ = grid
    call_id, secret = await open_call(stack, "conn-hardening")
    url = f"/communicationservices/callback/{call_id}/{secret}"
    good = cloud_event("CallConnected", "conn-hardening")
    bad_bodies: list[Any] = [
        [{**good, "time": 5}],
        [{**good, "time": [1]}],
        [{**good, "time": "xxxxx"}],
        [{**good, "time": "2026-13-45T99:00:00Z"}],
        [{**good, "subject": {"a": 1}}],
        [{**good, "data": {"callConnectionId": "conn-hardening", "resultInformation": 7}}],
    ]
    for body in bad_bodies:
        answer = await http.post(url, json=body, headers=bearer(_token()))
        assert answer.status_code == 400, (body, answer.text)
        assert "malformed events" in answer.json()["error"]["message"]
    deep = await http.post(url, content=b"[" * 100_000, headers=bearer(_token()))
    assert deep.status_code == 400 and "too deep" in deep.json()["error"]["message"]


async def test_an_mms_without_text_is_400_and_starts_nothing(stack: Stack) -> None:
    app = app_for(stack, hardened_settings(stack))
    form = {"MessageSid": "MM-no-text", "From": "+33612000092", "To": "+15005550006"}
    async with client(app) as http:
        for body in ("", "  "):
            signed = {**form, "Body": body, "NumMedia": "1"}
            signature = twilio_signature(f"{PUBLIC}/twilio/sms", signed, TWILIO_TOKEN)
            answer = await http.post(
                "/twilio/sms", data=signed, headers={"X-Twilio-Signature": signature}
            )
            assert answer.status_code == 400, answer.text
            assert "no text" in answer.json()["error"]["message"]
    assert await stack.store.latest_for_phone("+33612000092", since=_ever()) is None


async def test_a_call_invalid_only_as_a_whole_is_422_not_500(stack: Stack) -> None:
    """Found by the fuzzer: each claim field valid, two of one name, refused by CallInitiate."""
    claim = [{"name": "plate", "type": "text"}, {"name": "plate", "type": "email"}]
    answer = await stack.api.post("/call", json={"phone_number": "+33612345678", "claim": claim})
    assert answer.status_code == 422, answer.text
    assert "duplicate claim field names: plate" in answer.json()["error"]["message"]


# --- what strangers see -------------------------------------------------------------------


async def test_schema_and_docs_need_the_key_and_are_off_in_production(stack: Stack) -> None:
    async with client(app_for(stack, hardened_settings(stack))) as http:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert (await http.get(path)).status_code == 401, path
            assert (await http.get(path, headers=KEY)).status_code == 200, path
    data = hardened_settings(stack).model_dump()
    data["environment"] = "prod"
    data["temporal"] = _own_codec_keys(stack)
    data["telephony"]["call_secret_key"] = "c" * 40
    prod = Settings.model_validate(data)
    async with client(app_for(stack, prod)) as http:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert (await http.get(path, headers=KEY)).status_code == 404, path


async def test_every_response_carries_nosniff(stack: Stack) -> None:
    async with client(app_for(stack, hardened_settings(stack))) as http:
        answers = [
            await http.get("/health/liveness"),
            await http.get("/health/readiness"),
            await http.post("/call", json={}),
            await http.post("/call", json={"phone_number": "nope"}, headers=KEY),
            await http.get("/call/unknown-call", headers=KEY),
            await http.get("/report", headers=KEY),
            await http.post("/eventgrid/events", json=[]),
        ]
    assert [a.status_code for a in answers] == [200, 200, 401, 422, 404, 200, 404]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff", answer.request.url


async def test_readiness_names_the_dependency_not_the_exception(stack: Stack) -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    app = create_app(stack.settings, Services(stack.settings, stack.client, stack.store, dead))
    async with client(app) as http:
        answer = await http.get("/health/readiness")
    await dead.aclose()
    assert answer.status_code == 503
    checks = {c["id"]: c for c in answer.json()["checks"]}
    assert checks["redis"] == {"id": "redis", "status": "fail", "reason": "unavailable"}
    assert checks["temporal"]["status"] == "ok"
    text = answer.text
    assert "127.0.0.1" not in text and "Error" not in text and "6379" not in text


def _own_codec_keys(stack: Stack) -> dict[str, Any]:
    temporal = stack.settings.temporal.model_dump()
    temporal["codec"] = {
        "keys": {"prod-1": "p" * 40},
        "current_key": "prod-1",
        "phone_hash_key": "h" * 40,
    }
    return temporal


def _ever() -> Any:
    from datetime import UTC, datetime

    return datetime(2000, 1, 1, tzinfo=UTC)
