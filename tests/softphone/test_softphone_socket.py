"""The softphone's WebSocket protocol, spoken by a real aiohttp client to the real emulator.

The bot's side is the emulator tests' stub (callbacks, Event Grid, media socket) driven with
the real ACS SDK, so each step is checked where the bot sees it too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import struct
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from azure.communication.callautomation import PhoneNumberIdentifier
from azure.communication.callautomation.aio import CallAutomationClient

from acs_emulator import AcsEmulator
from tests.acs_emulator.bot_stub import BotStub, MediaConnection
from tests.acs_emulator.helpers import media_options

PHONE = "+15550004004"
FRAME = 640  # 20 ms at 16 kHz


class PageSocket:
    """What the softphone page does on its socket, message by message."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self.audio = bytearray()
        self._seen = 0

    async def send(self, **message: Any) -> None:
        await self.ws.send_str(json.dumps(message))

    async def expect(self, kind: str, within_s: float = 5.0, **fields: Any) -> dict[str, Any]:
        """The next message of that type (and fields) after the last one expected."""
        async with asyncio.timeout(within_s):
            while True:
                for i in range(self._seen, len(self.messages)):
                    message = self.messages[i]
                    if message["type"] == kind and all(
                        message.get(k) == v for k, v in fields.items()
                    ):
                        self._seen = i + 1
                        return message
                await self._read()

    async def state(self, state: str, within_s: float = 5.0) -> dict[str, Any]:
        return await self.expect("state", within_s, state=state)

    async def error(self, code: str) -> dict[str, Any]:
        return await self.expect("error", code=code)

    async def audio_at_least(self, size: int, within_s: float = 5.0) -> bytes:
        async with asyncio.timeout(within_s):
            while len(self.audio) < size:
                await self._read()
        return bytes(self.audio)

    async def _read(self) -> None:
        message = await self.ws.receive()
        if message.type == aiohttp.WSMsgType.TEXT:
            self.messages.append(json.loads(message.data))
        elif message.type == aiohttp.WSMsgType.BINARY:
            self.audio += message.data
        else:
            raise AssertionError(f"the socket closed: {message}")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def open_page(acs: AcsEmulator, http: aiohttp.ClientSession) -> PageSocket:
    ws = await http.ws_connect(f"{acs.endpoint}/softphone/ws")
    page = PageSocket(ws)
    hello = await page.expect("hello")
    assert hello["bot_number"] == acs.bot_number
    return page


@pytest.fixture
async def page(acs: AcsEmulator, http: aiohttp.ClientSession) -> AsyncIterator[PageSocket]:
    await acs.client.add_phone(PHONE, ring_timeout_ms=5000)
    socket = await open_page(acs, http)
    await socket.send(type="register", number=PHONE)
    assert (await socket.expect("registered"))["number"] == PHONE
    await socket.state("idle")
    yield socket
    await socket.ws.close()


def tone(frames: int, rate: int = 16_000) -> bytes:
    samples = frames * rate // 50
    return struct.pack(
        f"<{samples}h",
        *(int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(samples)),
    )


async def bot_calls(acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient, **media: Any) -> str:
    props = await sdk.create_call(
        PhoneNumberIdentifier(PHONE),
        bot.url("/callbacks"),
        source_caller_id_number=PhoneNumberIdentifier(acs.bot_number),
        media_streaming=media_options(bot, **media),
    )
    assert props.call_connection_id is not None
    return props.call_connection_id


def phone_audio(conn: MediaConnection) -> bytes:
    """What the bot heard of the phone, silent frames left out."""
    frames = [m["audioData"] for m in conn.of_kind("AudioData") if not m["audioData"]["silent"]]
    return b"".join(base64.b64decode(f["data"]) for f in frames)


async def bot_hears(conn: MediaConnection, size: int) -> bytes:
    async with asyncio.timeout(5):
        while len(phone_audio(conn)) < size:
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # and nothing more
    return phone_audio(conn)


async def test_the_page_and_its_scripts_are_served(
    acs: AcsEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{acs.endpoint}/softphone") as response:
        assert response.status == 200 and response.content_type == "text/html"
        html = await response.text()
    assert "/softphone/softphone.js" in html and 'id="keypad"' in html
    for name, marker in [
        ("softphone.js", "/softphone/ws"),
        ("worklets.js", 'registerProcessor("softphone-capture"'),
        ("softphone.css", "#keypad"),
    ]:
        async with http.get(f"{acs.endpoint}/softphone/{name}") as response:
            assert response.status == 200, name
            assert marker in await response.text(), name
    for name in ("nope.js", "..%2Fsoftphone_ws.py", "index.html%00"):
        async with http.get(f"{acs.endpoint}/softphone/{name}") as response:
            assert response.status == 404, name


async def test_bad_requests_get_clear_errors_and_the_socket_stays_open(
    acs: AcsEmulator, http: aiohttp.ClientSession
) -> None:
    await acs.client.add_phone(PHONE)
    page = await open_page(acs, http)
    await page.ws.send_str("{not json")
    assert "not JSON" in (await page.error("bad_json"))["message"]
    await page.ws.send_str("[1, 2]")
    assert "JSON object" in (await page.error("bad_message"))["message"]
    await page.send(type="fly")
    assert "unknown message type 'fly'" in (await page.error("bad_message"))["message"]
    await page.send(type="register")
    assert "number" in (await page.error("bad_message"))["message"]
    await page.send(type="dtmf", tones="")
    assert "tones" in (await page.error("bad_message"))["message"]
    await page.send(type="dial")
    assert (await page.error("not_registered"))["request"] == "dial"
    await page.send(type="register", number="0612345678")
    assert "E.164" in (await page.error("bad_number"))["message"]
    await page.send(type="register", number=acs.bot_number)
    assert "bot's number" in (await page.error("bad_number"))["message"]
    await page.send(type="register", number="+15550009999")
    unknown = await page.error("unknown_phone")
    assert "POST /_emulator/phones" in unknown["message"] and PHONE in unknown["message"]

    await page.send(type="register", number=PHONE)
    await page.expect("registered", number=PHONE)
    await page.state("idle")
    for request in ("answer", "decline", "hangup"):
        await page.send(type=request)
        assert (await page.error("wrong_state"))["request"] == request
    await page.send(type="dtmf", tones="1")
    await page.error("wrong_state")
    await page.ws.send_bytes(bytes(FRAME))
    assert (await page.error("wrong_state"))["request"] == "audio"

    other = await open_page(acs, http)
    await other.send(type="register", number=PHONE)
    assert PHONE in (await other.error("number_in_use"))["message"]
    await other.ws.close()
    # Still the same socket, still answering.
    await page.send(type="register", number=PHONE)
    await page.expect("registered", number=PHONE)
    await page.ws.close()


async def test_the_bots_call_rings_the_page_which_answers_talks_and_hangs_up(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient, page: PageSocket
) -> None:
    connection_id = await bot_calls(acs, bot, sdk)
    ringing = (await page.state("incoming"))["call"]
    assert ringing["connection_id"] == connection_id
    assert (ringing["direction"], ringing["sample_rate"]) == ("from_bot", 16_000)
    assert (await acs.client.call(connection_id)).state == "ringing"  # until the page answers
    await page.send(type="answer")
    await bot.wait_for(connection_id, "CallConnected")
    conn = await bot.wait_media()
    await bot.wait_for(connection_id, "MediaStreamingStarted")
    state = await page.state("connected")
    if not state["call"]["streaming"]:  # the media socket opened after the page heard of it
        state = await page.state("connected")
    assert state["call"] == {**ringing, "streaming": True}

    # The microphone: 20 ms binary frames, into the call as the phone's audio.
    said = tone(10)
    for i in range(0, len(said), FRAME):
        await page.ws.send_bytes(said[i : i + FRAME])
        await asyncio.sleep(0.02)
    assert await bot_hears(conn, len(said)) == said

    # The bot's audio comes down to the page as it arrives; a barge-in says to drop the rest.
    answer = tone(5)
    for i in range(0, len(answer), FRAME):
        data = base64.b64encode(answer[i : i + FRAME]).decode()
        await conn.ws.send_str(json.dumps({"kind": "AudioData", "audioData": {"data": data}}))
    assert await page.audio_at_least(len(answer)) == answer
    await conn.ws.send_str(json.dumps({"kind": "StopAudio", "audioData": None, "stopAudio": {}}))
    await page.expect("stop_audio")

    await page.send(type="dtmf", tones="5#")
    await page.expect("pressed", tones="5#")
    await page.send(type="dtmf", tones="x")
    assert "DTMF" in (await page.error("bad_tones"))["message"]
    await page.ws.send_bytes(b"\x01\x02\x03")
    assert "even" in (await page.error("bad_audio"))["message"]
    await page.ws.send_bytes(bytes(32_000 * 2 + 2))
    assert "at most" in (await page.error("bad_audio"))["message"]
    async with asyncio.timeout(5):
        while len(conn.of_kind("DtmfData")) < 2:
            await asyncio.sleep(0.02)
    assert [m["dtmfData"]["data"] for m in conn.of_kind("DtmfData")] == ["5", "#"]

    await page.send(type="hangup")
    ended = await page.expect("ended")
    assert (ended["connection_id"], ended["by"]) == (connection_id, "phone")
    audio = {"sent_bytes": len(said), "dropped_bytes": 0, "received_bytes": len(answer)}
    assert ended["audio"] == audio
    await page.state("idle")
    disconnected = await bot.wait_for(connection_id, "CallDisconnected")
    assert disconnected.event["data"]["resultInformation"]["subCode"] == 5010
    # Frames still on their way when the call ended are dropped without an error.
    errors = [m for m in page.messages if m["type"] == "error"]
    await page.ws.send_bytes(bytes(FRAME))
    await page.send(type="register", number=PHONE)
    await page.expect("registered")
    assert [m for m in page.messages if m["type"] == "error"] == errors


async def test_late_and_short_bursts_of_microphone_audio_are_heard_whole(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient, page: PageSocket
) -> None:
    connection_id = await bot_calls(acs, bot, sdk)
    await page.state("incoming")
    await page.send(type="answer")
    conn = await bot.wait_media()
    await bot.wait_for(connection_id, "MediaStreamingStarted")
    await page.state("connected")
    said = tone(7)
    # Five frames, a stall of the page (the queue runs dry), then a two-frame tail: held back
    # to re-prime, then released although no third frame follows.
    for i in range(5):
        await page.ws.send_bytes(said[i * FRAME : (i + 1) * FRAME])
    await asyncio.sleep(0.3)
    await page.ws.send_bytes(said[5 * FRAME :])
    assert await bot_hears(conn, len(said)) == said


@pytest.mark.parametrize("how", ["decline", "hangup", "no-answer", "close"])
async def test_a_ring_the_page_does_not_take(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient, page: PageSocket, how: str
) -> None:
    if how == "no-answer":
        await acs.client.add_phone(PHONE, ring_timeout_ms=200)
    connection_id = await bot_calls(acs, bot, sdk)
    await page.state("incoming")
    if how == "close":
        await page.ws.close()
    elif how != "no-answer":
        await page.send(type=how)
    failed = await bot.wait_for(connection_id, "CreateCallFailed")
    code = failed.event["data"]["resultInformation"]["code"]
    assert code == (603 if how in ("decline", "hangup") else 480)
    if how != "close":
        assert (await page.expect("ended"))["connection_id"] == connection_id
        await page.state("idle")


async def test_a_second_call_to_a_page_in_a_call_is_busy(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient, page: PageSocket
) -> None:
    first = await bot_calls(acs, bot, sdk)
    await page.state("incoming")
    await page.send(type="answer")
    await page.state("connected")
    second = await bot_calls(acs, bot, sdk)
    failed = await bot.wait_for(second, "CreateCallFailed")
    assert failed.event["data"]["resultInformation"]["code"] == 486
    assert (await acs.client.call(first)).state == "connected"


async def test_the_page_dials_the_bot_and_the_bot_hangs_up(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient, page: PageSocket
) -> None:
    await page.send(type="dial", display_name="Web caller")
    await page.state("calling")
    async with asyncio.timeout(5):
        while not bot.incoming_calls:
            await asyncio.sleep(0.02)
    data = bot.incoming_calls[0]["data"]
    assert data["from"]["phoneNumber"]["value"] == PHONE
    assert data["callerDisplayName"] == "Web caller"
    calling = (await page.state("calling"))["call"]  # now with the call's id
    assert calling["direction"] == "to_bot"
    props = await sdk.answer_call(
        data["incomingCallContext"], bot.url("/callbacks"), media_streaming=media_options(bot)
    )
    connection_id = props.call_connection_id
    assert connection_id is not None and connection_id == calling["connection_id"]
    await page.state("connected")
    await page.send(type="dial")
    await page.error("wrong_state")
    await sdk.get_call_connection(connection_id).hang_up(is_for_everyone=False)
    assert (await page.expect("ended"))["by"] == "bot"
    await page.state("idle")


async def test_dialling_without_an_event_grid_subscription_says_why(
    acs: AcsEmulator, page: PageSocket
) -> None:
    await acs.client.configure(event_grid_url=None)
    await page.send(type="dial")
    ended = await page.expect("ended")
    assert "no Event Grid subscription" in ended["reason"]
    await page.state("idle")


async def test_audio_before_streaming_starts_is_dropped_not_queued(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient, page: PageSocket
) -> None:
    connection_id = await bot_calls(acs, bot, sdk, start=False)  # e.g. a language menu first
    await page.state("incoming")
    await page.send(type="answer")
    assert (await page.state("connected"))["call"]["streaming"] is False
    for _ in range(10):
        await page.ws.send_bytes(tone(1))
    await page.send(type="dtmf", tones="1")  # an answer to the menu still gets through
    await page.expect("pressed")
    assert acs.emulator.calls[connection_id].audio.pending_bytes == 0
    assert not [m for m in page.messages if m["type"] == "error"]
    await page.send(type="hangup")
    assert (await page.expect("ended"))["audio"]["dropped_bytes"] == 10 * FRAME


async def test_closing_the_page_hangs_up_its_call(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient, page: PageSocket
) -> None:
    connection_id = await bot_calls(acs, bot, sdk)
    await page.state("incoming")
    await page.send(type="answer")
    await page.state("connected")
    await page.ws.close()
    record = await acs.client.wait_for_state(connection_id, "disconnected")
    assert record.hang_up is not None and record.hang_up.by == "phone"
    # The number is free again: a phone without a page answers as configured.
    again = await bot_calls(acs, bot, sdk)
    await acs.client.wait_for_state(again, "connected")
