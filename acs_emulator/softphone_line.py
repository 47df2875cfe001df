"""One softphone page's phone line: its number, its call and the audio both ways.

The page's microphone goes into the call exactly as `play_audio` does (the phone's queued
audio, cut into 20 ms frames by the media socket); the bot's audio the emulator receives is
forwarded to the page as it arrives, and a StopAudio (barge-in) tells the page to drop what it
has not played yet.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any, Literal, Protocol

from acs_emulator import results
from acs_emulator.errors import AcsError
from acs_emulator.media import FRAME_S
from acs_emulator.phones import RingOutcome

if TYPE_CHECKING:
    from acs_emulator.calls import Call
    from acs_emulator.emulator import Emulator

log = logging.getLogger(__name__)

LineState = Literal["idle", "incoming", "calling", "connected"]
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
PRIME_FRAMES = 3  # held back when the phone's audio restarts: absorbs the page's jitter
MAX_BACKLOG_S = 1.0  # more queued caller audio than this is dropped, not delayed
MAX_MESSAGE_S = 1.0  # one binary message holds at most this much audio
STRAY_AUDIO_S = 1.0  # frames still on their way when a call ends are dropped without a word


class LineError(Exception):
    """A request the line refuses; `code` is machine-readable, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Outbox(Protocol):
    """Where the line's messages go (the page's WebSocket)."""

    async def send_json(self, body: dict[str, Any]) -> None: ...

    async def send_audio(self, pcm: bytes) -> None: ...


class SoftphoneLine:
    """The phone `number` as a person at a browser page holds it."""

    def __init__(self, emulator: Emulator, outbox: Outbox) -> None:
        self.emulator = emulator
        self.outbox = outbox
        self.number: str | None = None
        self.state: LineState = "idle"
        self.call: Call | None = None
        self._ring: asyncio.Future[RingOutcome] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._dialing: asyncio.Task[None] | None = None  # held: an unheld task may vanish
        self._hang_up_when_dialed = False
        self._closed = False
        # Audio bookkeeping of the current call.
        self._forwarded = 0  # bytes of the call's received audio already sent to the page
        self._stops_seen = 0
        self._streaming = False
        self._primed = False
        self._held = bytearray()
        self._release_timer: asyncio.TimerHandle | None = None
        self._audio_refused = False
        self._ended_at = float("-inf")
        self.sent_bytes = 0
        self.dropped_bytes = 0

    # --- the page's requests ---------------------------------------------------------------

    async def register(self, number: str) -> None:
        """Act as `number`, an emulator phone; rings of the bot's calls to it come here."""
        if not E164.match(number):
            raise LineError("bad_number", f"{number!r} is not a +E.164 phone number")
        if number == self.emulator.config.bot_number:
            raise LineError("bad_number", f"{number} is the bot's number, not a phone")
        book = self.emulator.phones
        if not book.known(number):
            raise LineError(
                "unknown_phone",
                f"{number} is not an emulator phone: add it first "
                "(POST /_emulator/phones) or pick one of "
                f"{[p.number for p in book.all()] or 'none yet'}",
            )
        if number == self.number:
            await self._registered()
            return
        if self.state != "idle":
            raise LineError("wrong_state", f"cannot change number during a call ({self.state})")
        if not book.attach(number, self):
            raise LineError("number_in_use", f"another softphone page already acts as {number}")
        if self.number is not None:
            book.detach(self.number, self)
        self.number = number
        await self._registered()

    async def dial(self, display_name: str = "") -> None:
        """Call the bot's number: the emulator's incoming-call path (Event Grid IncomingCall)."""
        number = self._number()
        self._require("idle", "dial")
        self.state = "calling"
        self._hang_up_when_dialed = False
        await self._send_state()
        self._dialing = asyncio.create_task(self._dial(number, display_name))

    async def answer(self) -> None:
        self._require("incoming", "answer")
        if self._ring is not None and not self._ring.done():
            self._ring.set_result("answered")

    async def decline(self) -> None:
        self._require("incoming", "decline")
        if self._ring is not None and not self._ring.done():
            self._ring.set_result("declined")

    async def hang_up(self) -> None:
        if self.state == "incoming":
            await self.decline()
        elif self.state == "calling" and self.call is None:
            self._hang_up_when_dialed = True  # the dial request is still on its way
        elif self.state in ("calling", "connected") and self.call is not None:
            await _hang_up(self.call)
        else:
            raise LineError("wrong_state", "there is no call to hang up")

    async def press(self, tones: str) -> None:
        """DTMF from the keypad: DtmfData on the media socket, input for a recognize."""
        self._require("connected", "press keys")
        assert self.call is not None
        try:
            self.call.press(tones)
        except ValueError as exc:
            raise LineError("bad_tones", str(exc)) from exc
        await self.outbox.send_json({"type": "pressed", "tones": tones.upper()})

    async def audio(self, pcm: bytes) -> None:
        """Microphone PCM16LE mono at the call's rate, in the call's phone audio."""
        call = self.call
        if self.state != "connected" or call is None:
            stray = asyncio.get_running_loop().time() - self._ended_at < STRAY_AUDIO_S
            if (
                not stray and not self._audio_refused
            ):  # once per call state, not at every 20 ms frame
                self._audio_refused = True
                raise LineError("wrong_state", f"audio is only taken in a call, not {self.state}")
            return
        rate = call.record.media.sample_rate
        if rate is None:
            raise LineError("no_media", "this call has no media streaming: audio has nowhere to go")
        if len(pcm) % 2:
            raise LineError("bad_audio", "PCM16 audio has an even number of bytes")
        if len(pcm) > rate * 2 * MAX_MESSAGE_S:
            raise LineError("bad_audio", f"at most {MAX_MESSAGE_S:g} s of audio per message")
        if not call.record.media.connected:
            # Nobody streams yet (a menu before streaming starts): what is said there is lost,
            # as on a real line; queueing it would replay stale speech later.
            self.dropped_bytes += len(pcm)
            return
        if call.audio.pending_bytes > rate * 2 * MAX_BACKLOG_S:
            self.dropped_bytes += len(pcm)
            return
        if call.audio.pending_bytes == 0 and not self._held:
            self._primed = False  # the queue ran dry: refill a little before streaming again
        if self._primed:
            self._push(call, pcm)
            return
        self._held += pcm
        if len(self._held) >= PRIME_FRAMES * rate * 2 // 50:
            self._release(call)
        elif self._release_timer is None:
            # The tail of an utterance must not wait for audio that may never come.
            loop = asyncio.get_running_loop()
            self._release_timer = loop.call_later(PRIME_FRAMES * FRAME_S, self._release, call)

    def _release(self, call: Call) -> None:
        """What was held while priming goes into the call."""
        if self._release_timer is not None:
            self._release_timer.cancel()
            self._release_timer = None
        held, self._held, self._primed = bytes(self._held), bytearray(), True
        if held and call is self.call and not call.ended:
            self._push(call, held)

    def _push(self, call: Call, pcm: bytes) -> None:
        call.audio.push(pcm)
        self.sent_bytes += len(pcm)

    async def close(self) -> None:
        """The page went away: a ringing call is not answered, a call in progress hangs up."""
        self._closed = True
        if self.number is not None:
            self.emulator.phones.detach(self.number, self)
        self._hang_up_when_dialed = True
        if self._ring is not None and not self._ring.done():
            self._ring.set_result("no-answer")  # the bot's call fails as unanswered
        elif self.call is not None and not self.call.ended:
            await _hang_up(self.call)
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)

    # --- the bot's calls ringing this number -----------------------------------------------

    async def ring(self, timeout_s: float) -> RingOutcome | None:
        """The bot calls this number: the page rings until answered, declined or timed out."""
        call = self._ringing_call()
        if call is None:
            return None  # not a call of the bot to this phone (a transfer): the book decides
        if self.state != "idle":
            return "busy"
        ring: asyncio.Future[RingOutcome] = asyncio.get_running_loop().create_future()
        self._ring = ring
        self._begin(call, "incoming")
        await self._send_state()
        try:
            return await asyncio.wait_for(asyncio.shield(ring), timeout_s)
        except TimeoutError:
            return "no-answer"
        finally:
            self._ring = None

    def _ringing_call(self) -> Call | None:
        ringing = [
            call
            for call in self.emulator.calls.values()
            if call.record.phone_number == self.number
            and call.record.direction == "outbound"
            and call.record.state == "ringing"
            and call is not self.call
        ]
        return max(ringing, key=lambda c: c.record.created_at) if ringing else None

    # --- internals -------------------------------------------------------------------------

    def _number(self) -> str:
        if self.number is None:
            raise LineError("not_registered", "register a phone number first")
        return self.number

    def _require(self, state: LineState, action: str) -> None:
        self._number()
        if self.state != state:
            raise LineError("wrong_state", f"cannot {action} while {self.state}")

    async def _registered(self) -> None:
        await self.outbox.send_json(
            {
                "type": "registered",
                "number": self.number,
                "bot_number": self.emulator.config.bot_number,
            }
        )
        await self._send_state()

    async def _dial(self, number: str, display_name: str) -> None:
        try:
            result = await self.emulator.dial(number, None, display_name)
        except Exception as exc:  # the page must hear why, not stay "calling" forever
            log.exception("softphone %s: dialling the bot failed", number)
            self.state = "idle"
            message = exc.message if isinstance(exc, AcsError) else f"{type(exc).__name__}: {exc}"
            await self._send_error("dial_failed", message)
            await self._send_state()
            return
        call = self.emulator.calls.get(result.connection_id)
        if call is None:  # the emulator was reset meanwhile
            self.state = "idle"
            ended = {"type": "ended", "by": "emulator", "reason": "the emulator was reset"}
            await self.outbox.send_json(ended)
            await self._send_state()
            return
        self._begin(call, "calling")
        if self._hang_up_when_dialed and not call.ended:
            await _hang_up(call)
        if not self._closed:
            await self._send_state()

    def _begin(self, call: Call, state: LineState) -> None:
        self.call, self.state = call, state
        self._forwarded = len(call.received_audio)
        self._stops_seen = call.record.media.stop_audio_count
        self._streaming = call.record.media.connected
        self._primed, self._held, self._audio_refused = False, bytearray(), False
        if self._release_timer is not None:
            self._release_timer.cancel()
            self._release_timer = None
        self.sent_bytes = self.dropped_bytes = 0
        self._watch = asyncio.create_task(self._follow(call), name="softphone-follow")

    async def _follow(self, call: Call) -> None:
        """Every 20 ms: the call's state, the bot's new audio and barge-ins, to the page."""
        try:
            while True:
                gone = self.emulator.calls.get(call.connection_id) is not call
                if call.ended or gone:
                    await self._forward_audio(call)
                    await self._ended(call, gone)
                    return
                streaming = call.record.media.connected
                if call.record.state == "connected" and self.state != "connected":
                    self.state, self._audio_refused = "connected", False
                    self._streaming = streaming
                    await self._send_state()
                elif streaming != self._streaming:
                    self._streaming = streaming
                    await self._send_state()
                await self._forward_audio(call)
                await asyncio.sleep(FRAME_S)
        except Exception as exc:  # a dead watcher would leave the page in a call forever
            log.exception("softphone %s: following call %s failed", self.number, call.connection_id)
            self.call, self.state = None, "idle"
            await self._send_error("internal", f"following the call failed: {exc!r}")
            await self._send_state()

    async def _forward_audio(self, call: Call) -> None:
        stops = call.record.media.stop_audio_count
        if stops != self._stops_seen:
            self._stops_seen = stops
            await self.outbox.send_json({"type": "stop_audio"})
        received = call.received_audio
        if len(received) > self._forwarded:
            chunk = bytes(received[self._forwarded :])
            self._forwarded += len(chunk)
            await self.outbox.send_audio(chunk)

    async def _ended(self, call: Call, gone: bool) -> None:
        hang_up = call.record.hang_up
        if gone:
            by, reason = "emulator", "the emulator was reset"
        elif hang_up is not None:
            by, reason = hang_up.by, hang_up.reason
        else:
            by, reason = "network", call.record.state
        self.call, self.state = None, "idle"
        self._ended_at = asyncio.get_running_loop().time()
        audio = {
            "sent_bytes": self.sent_bytes,  # the microphone, queued into the call
            "dropped_bytes": self.dropped_bytes,  # while no media streamed, or too far behind
            "received_bytes": self._forwarded,  # the bot's audio, sent to the page
        }
        await self.outbox.send_json(
            {
                "type": "ended",
                "connection_id": call.connection_id,
                "by": by,
                "reason": reason,
                "audio": audio,
            }
        )
        await self._send_state()

    async def _send_state(self) -> None:
        body: dict[str, Any] = {"type": "state", "state": self.state, "call": None}
        call = self.call
        if call is not None:
            media = call.record.media
            body["call"] = {
                "connection_id": call.connection_id,
                "direction": "to_bot" if call.record.direction == "inbound" else "from_bot",
                "bot_number": self.emulator.config.bot_number,
                "sample_rate": media.sample_rate,
                "streaming": media.connected,
            }
        await self.outbox.send_json(body)

    async def _send_error(self, code: str, message: str) -> None:
        await self.outbox.send_json({"type": "error", "code": code, "message": message})


async def _hang_up(call: Call) -> None:
    """The phone hangs up, as `POST /_emulator/calls/{id}/hangup` does."""
    if call.ended:
        return
    if call.record.state == "ringing":
        await call.end(
            by="phone", reason="caller hung up before an answer", result=results.NO_ANSWER
        )
    else:
        await call.end(by="phone", reason="the phone hung up", result=results.PHONE_HUNG_UP)
