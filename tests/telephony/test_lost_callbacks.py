"""A callback ACS could not deliver (the API down while the call connects) is reconciled by the
workflow: it asks ACS for the connection's state (GET /calling/callConnections/{id}) and acts
as the lost `CallConnected` or `CallDisconnected` would have.

The whole phone stack is the real one (API, dev server, worker, gateway, ACS emulator with the
real ACS SDK). ACS reaches the API through a TCP relay, the public URL: closing it refuses the
emulator's callbacks exactly as a dead API does, while the test still reads the call's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from acs_emulator.events import RESEND_AFTER_S
from acs_emulator.models import CallRecord
from acs_emulator.runner import AcsEmulator
from core.redis_server import free_port
from domain.call import CallState
from domain.contracts import PlaceCallInput
from domain.prompts import phrase
from providers.sentences.redis_stream import RedisSentenceStream
from providers.telephony.acs import AcsTelephony
from tests.telephony.test_duplicate_deliveries import cloud_event
from tests.telephony.test_phone_calls import ONE_LANGUAGE, Phone, say
from tests.telephony.test_phone_calls import phone as phone  # noqa: F401 - the fixture
from tests.telephony.test_phone_calls import (  # noqa: F401 - the fixture
    phone_time_skipping as phone_time_skipping,
)
from workflows.call_phone import CONNECT_CHECKS, HANG_UP_CHECKS, PLAY_CHARS_PER_S, PLAY_OVERDUE


class Relay:
    """The API's public address: a TCP relay to it that can be taken down (refused)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for pipe in list(self._pipes):
            pipe.cancel()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.target_port
        )
        pipes = [
            asyncio.create_task(self._pipe(reader, upstream_writer)),
            asyncio.create_task(self._pipe(upstream_reader, writer)),
        ]
        self._pipes.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)
        self._pipes.difference_update(pipes)
        for w in (writer, upstream_writer):
            w.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


async def behind_relay(phone: Phone) -> Relay:
    """Callbacks of calls placed from now on go through a relay (down until `up()`)."""
    api_port = phone.api.base_url.port
    assert api_port is not None
    relay = Relay(api_port)
    # The public URL is configuration read when a call is placed: ACS's view of the API.
    phone.settings.telephony.public_url = relay.url
    return relay


async def wait_delivery_given_up(phone: Phone, connection_id: str, event: str) -> CallRecord:
    """Until the emulator gave up delivering `event` (every resend refused)."""
    deadline = time.monotonic() + sum(RESEND_AFTER_S) + 10
    while time.monotonic() < deadline:
        record = await phone.phones.call(connection_id)
        events = [e for e in record.events if e.type == event and e.delivery is not None]
        if events:
            return record
        await asyncio.sleep(0.1)
    raise AssertionError(f"{event} was not given up")


async def only_call(phone: Phone, call_id: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        state = await phone.state(call_id)
        if state["connection_id"]:
            return str(state["connection_id"])
        await asyncio.sleep(0.05)
    raise AssertionError("no connection")


def greetings(state: dict[str, Any]) -> list[str]:
    return [m["content"] for m in state["messages"] if m["content"].startswith("Hello, I'm Amélie")]


async def test_a_call_connected_never_delivered_connects_and_greets_once(phone: Phone) -> None:
    relay = await behind_relay(phone)  # down: every delivery of CallConnected is refused
    try:
        call_id = await phone.call(lang=ONE_LANGUAGE)
        connection_id = await only_call(phone, call_id)
        # Connected and greeted by the first check, long before ACS's resends would be over.
        first = CONNECT_CHECKS[0].total_seconds()
        state = await phone.wait_status(call_id, "in_progress", timeout=first + 5, every=0.2)
        assert state["connection_id"] == connection_id
        assert len(greetings(state)) == 1
        record = await phone.phones.call(connection_id)
        assert not any(e.delivery is not None and e.delivery.ok for e in record.events)
        await phone.phones.wait_for_call(
            connection_id, lambda c: c.media.connected and c.media.frames_sent > 5
        )
        # The emulator resends it for ~15 s, then gives up: lost for good.
        record = await wait_delivery_given_up(phone, connection_id, "CallConnected")
        (connected,) = [e for e in record.events if e.type == "CallConnected"]
        assert connected.delivery is not None and not connected.delivery.ok
        assert connected.delivery.attempts == len(RESEND_AFTER_S) + 1
        await relay.up()
        # ACS's own CallConnected arriving after all (a late redelivery) greets no second time.
        assert record.callback_uri is not None
        async with httpx.AsyncClient(timeout=30) as http:
            token = phone.acs.emulator.signer.token()
            answer = await http.post(
                record.callback_uri,
                json=[cloud_event(record, "CallConnected")],
                headers={"Authorization": f"Bearer {token}"},
            )
            assert answer.status_code == 204, answer.text
        await asyncio.sleep(1)
        state = await phone.state(call_id)
        assert state["status"] == "in_progress" and len(greetings(state)) == 1
        spoken = await RedisSentenceStream(phone.redis).read(call_id)
        assert [s.text for _, s in spoken].count(greetings(state)[0]) == 1
    finally:
        await relay.down()


async def test_a_call_gone_at_acs_while_its_callbacks_are_lost_is_ended(phone: Phone) -> None:
    relay = await behind_relay(phone)  # down: neither CallConnected nor CallDisconnected arrives
    try:
        call_id = await phone.call(lang=ONE_LANGUAGE)
        connection_id = await only_call(phone, call_id)
        await phone.phones.wait_for_state(connection_id, "connected")
        await phone.phones.hang_up(connection_id)  # the customer hangs up at once
        first = CONNECT_CHECKS[0].total_seconds()
        state = await phone.wait_status(call_id, "ended", timeout=first + 5, every=0.2)
        assert state["messages"][-1]["action"] == "hangup"
        assert not greetings(state)
        record = await phone.phones.call(connection_id)
        assert not any(e.delivery is not None and e.delivery.ok for e in record.events)
    finally:
        with contextlib.suppress(Exception):
            await relay.down()


async def test_a_goodbye_whose_callbacks_are_lost_still_hangs_up_and_ends(phone: Phone) -> None:
    relay = await behind_relay(phone)
    await relay.up()
    try:
        call_id = await phone.call(lang=ONE_LANGUAGE)
        connection_id = await phone.connection(call_id)
        await relay.down()  # from now on PlayCompleted and CallDisconnected are refused
        phone.llm.state.add(say("Goodbye, have a nice day!", "end_call"), user=call_id)
        reply = (await phone.api.post(f"/call/{call_id}/messages", json={"text": "bye"})).json()
        assert reply["ended"] is True
        goodbye = phrase("goodbye", CallState.model_validate(await phone.state(call_id)))
        overdue = PLAY_OVERDUE.total_seconds() + len(goodbye) / PLAY_CHARS_PER_S
        record = await phone.phones.wait_for_state(
            connection_id, "disconnected", timeout=overdue + 5
        )
        assert record.plays[-1].operation_context == "goodbye"
        assert record.hang_up is not None and record.hang_up.by == "bot"
        first = HANG_UP_CHECKS[0].total_seconds()
        final = await phone.wait_status(call_id, "ended", timeout=first + 5, every=0.2)
        assert "hangup" in [m["action"] for m in final["messages"]]
        record = await phone.phones.call(connection_id)
        lost = [e for e in record.events if e.type in ("PlayCompleted", "CallDisconnected")]
        assert lost and not any(e.delivery is not None and e.delivery.ok for e in lost)
    finally:
        await relay.down()


async def test_the_connection_state_through_the_sdk_follows_the_call() -> None:
    """GET /calling/callConnections/{id} read by the real SDK: ringing, connected, gone."""
    customer = "+33655501234"
    async with AcsEmulator() as acs:
        await acs.client.add_phone(customer, answer="auto", answer_delay_ms=1_000)
        line = AcsTelephony(
            endpoint=acs.endpoint, access_key=acs.access_key, bot_phone_number=acs.bot_number
        )
        try:
            connection = await line.place_call(
                PlaceCallInput(
                    call_id="c1",
                    to=customer,
                    callback_url=f"http://127.0.0.1:{free_port()}/callback",  # nobody there
                    media_url=None,
                    audio_format="pcm16k",
                    start_media=False,
                )
            )
            ringing = await line.connection_state("c1", connection.connection_id)
            assert ringing.state == "connecting"
            await acs.client.wait_for_state(connection.connection_id, "connected")
            connected = await line.connection_state("c1", connection.connection_id)
            assert connected.state == "connected"
            assert connected.server_call_id == connection.server_call_id
            await acs.client.hang_up(connection.connection_id)
            gone = await line.connection_state("c1", connection.connection_id)
            assert gone.state == "gone"
        finally:
            await line.close()


async def test_a_call_that_rings_past_every_check_is_hung_up_and_ended(
    phone_time_skipping: Phone, time_skipping_env: WorkflowEnvironment
) -> None:
    """No answer and no ring timeout at ACS: after the last check (timers skipped) the call is
    hung up and ended, not left "starting"."""
    phone = phone_time_skipping
    number = "+33655509876"
    await phone.phones.add_phone(number, answer="never", ring_timeout_ms=600_000)
    call_id = await phone.call(phone_number=number, lang=ONE_LANGUAGE)
    connection_id = await only_call(phone, call_id)
    assert (await phone.phones.call(connection_id)).state == "ringing"
    await time_skipping_env.sleep(sum(d.total_seconds() for d in CONNECT_CHECKS) + 5)
    state = await phone.wait_status(call_id, "ended", timeout=20, every=0.2)
    assert "hangup" in [m["action"] for m in state["messages"]]
    assert not greetings(state)
    record = await phone.phones.call(connection_id)
    assert record.hang_up is not None and record.hang_up.by == "bot"
    history = await phone.client.get_workflow_handle(f"call-{call_id}").fetch_history()
    checks = [
        e
        for e in history.events
        if e.activity_task_scheduled_event_attributes.activity_type.name == "call_connection_state"
    ]
    assert len(checks) == len(CONNECT_CHECKS)  # ringing at each check, then the give-up
