"""Texts happen once: a redelivered inbound SMS is one turn and one reply, and a send whose
answer was lost is not sent again when Temporal retries the activity.

The whole path is real (signed Twilio webhook over HTTP → API → Temporal dev server → worker →
`send_sms` activity → HTTP), up to a local stand-in for Twilio's Messages API that keeps the
messages it took, lists them as Twilio does, and can lose its answer to a create.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiohttp import web
from redis.asyncio import Redis
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from api.deps import Services
from api.idempotency import call_id_for_sms
from api.main import create_app
from core.redis_server import free_port
from core.settings import Settings
from core.stores import open_store
from providers.sms.twilio import TwilioSms, twilio_signature
from providers.store.base import CallStore
from scripted_llm.runner import ScriptedLlmServer
from scripted_llm.script import ScriptedReply
from tests.api.test_idempotency import task_timeout_sec
from tests.conftest import make_settings
from tests.workflows.test_turn_durability import in_process_worker, worker_process

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "twilio-auth-token"
BOT = "+15005550006"
PUBLIC = "https://callcenter.example.com"


@dataclass
class TwilioMessages:
    """Twilio's Messages resource: create (form POST) and list (GET, newest first)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    creates: int = 0
    lists: int = 0
    lose_answers: int = 0  # the next N creates are kept, but their answer never arrives
    on_create: Callable[[], None] | None = None  # runs once a create is kept, before answering
    url: str = ""

    async def create(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        self.creates += 1
        message = {
            "sid": f"SM{len(self.messages):032d}",
            "status": "queued",
            "to": str(form["To"]),
            "from": str(form["From"]),
            "body": str(form["Body"]),
            "date_created": format_datetime(datetime.now(UTC).replace(microsecond=0)),
        }
        self.messages.insert(0, message)
        if self.on_create is not None:
            self.on_create()
        if self.lose_answers > 0:
            self.lose_answers -= 1
            assert request.transport is not None
            request.transport.close()  # taken, then the connection dies before the answer
            return web.Response(status=201)
        return web.json_response(message, status=201)

    async def list_messages(self, request: web.Request) -> web.Response:
        self.lists += 1
        found = [
            m
            for m in self.messages
            if m["to"] == request.query.get("To", m["to"])
            and m["from"] == request.query.get("From", m["from"])
        ]
        page = int(request.query.get("PageSize", "50"))
        return web.json_response({"messages": found[:page], "next_page_uri": None})

    def to(self, number: str) -> list[str]:
        return [m["body"] for m in self.messages if m["to"] == number]


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioMessages]:
    fake = TwilioMessages()
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", fake.create)
    app.router.add_get("/2010-04-01/Accounts/{sid}/Messages.json", fake.list_messages)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield fake
    await runner.cleanup()


@dataclass
class SmsStack:
    settings: Settings
    api: httpx.AsyncClient
    store: CallStore
    llm: ScriptedLlmServer
    client: Client

    async def text_bot(self, sid: str, customer: str, body: str) -> httpx.Response:
        """Twilio's signed webhook for one inbound message (a redelivery sends it again)."""
        form = {"MessageSid": sid, "From": customer, "To": BOT, "Body": body}
        signature = twilio_signature(f"{PUBLIC}/twilio/sms", form, TOKEN)
        return await self.api.post(
            "/twilio/sms", data=form, headers={"X-Twilio-Signature": signature}
        )


@pytest.fixture
async def sms_api(
    temporal_env: WorkflowEnvironment,
    redis_url: str,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
    twilio: TwilioMessages,
) -> AsyncIterator[SmsStack]:
    """The API over HTTP with Twilio configured; no worker (each test brings its own)."""
    client = temporal_env.client
    data = make_settings(
        tmp_path, redis_url, scripted_llm, client.service_client.config.target_host
    ).model_dump()
    data["sms"] = {
        **data["sms"],
        "kind": "twilio",
        "twilio": {
            "account_sid": SID,
            "auth_token": TOKEN,
            "phone_number": BOT,
            "base_url": twilio.url,
        },
    }
    data["telephony"] = {**data["telephony"], "public_url": PUBLIC}
    settings = Settings.model_validate(data)
    async with AsyncExitStack() as resources:
        redis = Redis.from_url(redis_url)
        resources.push_async_callback(redis.aclose)
        store = await open_store(settings.store)
        resources.push_async_callback(store.close)
        app = create_app(settings, Services(settings, client, store, redis))
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.02)
        api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60)
        try:
            yield SmsStack(settings, api, store, scripted_llm, client)
        finally:
            await api.aclose()
            server.should_exit = True
            await serving


@pytest.fixture
async def sms_stack(sms_api: SmsStack) -> AsyncIterator[SmsStack]:
    async with in_process_worker(sms_api.client, sms_api.settings):
        yield sms_api


async def sms_turns(store: CallStore, call_id: str) -> list[tuple[str, str]]:
    call = await store.get(call_id)
    assert call is not None
    return [(m.persona.value, m.content) for m in call.messages if m.action.value == "sms"]


async def test_a_redelivered_sms_is_one_turn_and_one_reply(
    sms_stack: SmsStack, twilio: TwilioMessages
) -> None:
    customer, sid = "+33612340001", "SM11111111111111111111111111111111"
    call_id = call_id_for_sms("twilio", sid)  # the conversation this first text opens
    sms_stack.llm.state.add(ScriptedReply(text="Yes, glass is covered.", delay_s=0.5), user=call_id)
    sms_stack.llm.state.add(ScriptedReply(text="A SECOND REPLY"), user=call_id)
    # Twilio delivers it, then again (its answer timed out): both while the turn runs …
    first, second = await asyncio.gather(
        sms_stack.text_bot(sid, customer, "Is glass covered?"),
        sms_stack.text_bot(sid, customer, "Is glass covered?"),
    )
    # … and once more after it was answered.
    third = await sms_stack.text_bot(sid, customer, "Is glass covered?")
    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert twilio.to(customer) == ["Yes, glass is covered."]
    assert await sms_turns(sms_stack.store, call_id) == [
        ("human", "Is glass covered?"),
        ("assistant", "Yes, glass is covered."),
    ]
    assert len(sms_stack.llm.state.requests(user=call_id)) == 1
    assert await task_timeout_sec(sms_stack.client, call_id) == 1.0
    # A new message (another sid) is a new turn of the same conversation.
    await sms_stack.text_bot("SM22222222222222222222222222222222", customer, "Thanks!")
    assert twilio.to(customer) == ["A SECOND REPLY", "Yes, glass is covered."]


async def test_a_reply_whose_answer_was_lost_is_not_texted_twice(
    sms_stack: SmsStack, twilio: TwilioMessages
) -> None:
    customer, sid = "+33612340002", "SM33333333333333333333333333333333"
    call_id = call_id_for_sms("twilio", sid)
    sms_stack.llm.state.add(ScriptedReply(text="Your file is CLM-77."), user=call_id)
    twilio.lose_answers = 1  # Twilio takes the reply, but the worker never hears back
    response = await sms_stack.text_bot(sid, customer, "What is my file number?")
    assert response.status_code == 200
    # The first attempt failed; Temporal retried it; the retry found the message and sent none.
    assert twilio.creates == 1 and twilio.lists >= 1
    assert twilio.to(customer) == ["Your file is CLM-77."]
    assert await sms_turns(sms_stack.store, call_id) == [
        ("human", "What is my file number?"),
        ("assistant", "Your file is CLM-77."),
    ]


async def test_a_worker_killed_after_twilio_took_the_reply_does_not_text_twice(
    sms_api: SmsStack, twilio: TwilioMessages, tmp_path: Path
) -> None:
    customer, sid = "+33612340005", "SM55555555555555555555555555555555"
    call_id = call_id_for_sms("twilio", sid)
    sms_api.llm.state.add(ScriptedReply(text="We open at nine."), user=call_id)
    async with worker_process(sms_api.settings, tmp_path) as doomed:
        # The only worker dies (SIGKILL) the moment Twilio has taken the reply.
        twilio.on_create = lambda: doomed.send_signal(signal.SIGKILL)
        answered = asyncio.create_task(sms_api.text_bot(sid, customer, "When do you open?"))
        await asyncio.wait_for(doomed.wait(), 60)
        twilio.on_create = None
        assert twilio.creates == 1
        # Another worker takes over: the activity times out on the dead one and is retried.
        async with in_process_worker(sms_api.client, sms_api.settings):
            response = await asyncio.wait_for(answered, 60)
    assert response.status_code == 200
    assert twilio.creates == 1 and twilio.lists >= 1
    assert twilio.to(customer) == ["We open at nine."]
    assert await sms_turns(sms_api.store, call_id) == [
        ("human", "When do you open?"),
        ("assistant", "We open at nine."),
    ]


async def test_find_sent_matches_recipient_body_and_time(twilio: TwilioMessages) -> None:
    async with TwilioSms(SID, TOKEN, BOT, base_url=twilio.url) as sms:
        before = datetime.now(UTC) - timedelta(seconds=5)
        sent = await sms.send("+33612340003", "Hello")
        key = "call-x/1"
        found = await sms.find_sent("+33612340003", "Hello", idempotency_key=key, since=before)
        assert found is not None and found.message_id == sent.message_id
        # Another body, another recipient, or a message older than the first attempt: not it.
        assert await sms.find_sent("+33612340003", "Bye", idempotency_key=key, since=before) is None
        assert (
            await sms.find_sent("+33612340004", "Hello", idempotency_key=key, since=before) is None
        )
        later = datetime.now(UTC) + timedelta(minutes=5)
        assert (
            await sms.find_sent("+33612340003", "Hello", idempotency_key=key, since=later) is None
        )
