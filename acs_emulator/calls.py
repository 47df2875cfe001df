"""One call leg of the bot: its state machine, its events and the phone on the other end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from acs_emulator import results
from acs_emulator.auth import TokenSigner
from acs_emulator.config import EmulatorConfig, Timings
from acs_emulator.errors import AcsError
from acs_emulator.events import EventSender, cloud_event
from acs_emulator.ids import identifier_for, phone_identifier, user_identifier
from acs_emulator.media import RATES, PhoneAudio, frame_bytes
from acs_emulator.mediaops import MediaOps
from acs_emulator.models import (
    CallRecord,
    CallState,
    EventRecord,
    HangUpRecord,
    ResultInfo,
    TransferRecord,
)
from acs_emulator.participants import Participants
from acs_emulator.phones import FAILURES, PhoneBook
from acs_emulator.recognize import TONE_NAMES, PhoneInput
from acs_emulator.schemas import Identifier, MediaStreamingOptions
from acs_emulator.streaming import Streaming

DEFAULT_API_VERSION = "2026-03-12"


@dataclass
class Services:
    """What every call shares with the emulator."""

    http: aiohttp.ClientSession
    signer: TokenSigner
    config: EmulatorConfig
    phones: PhoneBook
    touch: Callable[[], None]
    background: Callable[[Coroutine[Any, Any, None]], None]
    bot_raw_id: str


def _now() -> datetime:
    return datetime.now(UTC)


class Call:
    """Runtime of one call; `record` is what the scripted-caller API shows."""

    def __init__(self, services: Services, record: CallRecord) -> None:
        self.services = services
        self.record = record
        self.media_options: MediaStreamingOptions | None = None
        self.subscription_id = str(uuid.uuid4())
        self.sender: EventSender | None = None
        self.streaming = Streaming(self)
        self.audio = PhoneAudio()
        self.received_audio = bytearray()
        self.ops = MediaOps(self)
        self.party = Participants(self)
        self._inputs: asyncio.Queue[PhoneInput] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._events_closed = False
        self._sequence = 0

    @property
    def timings(self) -> Timings:
        return self.services.config.timings

    @property
    def connection_id(self) -> str:
        return self.record.connection_id

    @property
    def ended(self) -> bool:
        return self.record.state in ("disconnected", "transferred")

    def touch(self) -> None:
        self.services.touch()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A task that dies with the call."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def attach(
        self,
        *,
        callback_uri: str,
        api_version: str,
        operation_context: str | None,
        media: MediaStreamingOptions | None,
    ) -> None:
        """The bot took the call (create or answer): where its events go, and its media."""
        self.record.callback_uri = callback_uri
        self.record.api_version = api_version
        self.record.operation_context = operation_context
        self.sender = EventSender(
            self.services.http,
            self.services.signer,
            lambda: self.timings.callback_timeout_s,
            self.touch,
        )
        self.media_options = media
        if media is not None:
            rate = RATES[media.audio_format or "pcm16KMono"]
            m = self.record.media
            m.configured = True
            m.transport_url = media.transport_url
            m.audio_format = media.audio_format or "pcm16KMono"
            m.sample_rate = rate
            m.frame_bytes = frame_bytes(rate)
            m.bidirectional = media.enable_bidirectional
            m.dtmf_enabled = bool(media.enable_dtmf_tones)

    def emit(
        self,
        name: str,
        fields: dict[str, Any] | None = None,
        *,
        operation_context: str | None = None,
        result: ResultInfo | None = None,
        url: str | None = None,
        source: str | None = None,
    ) -> None:
        """Queue one callback event (nothing after CallDisconnected, as in ACS)."""
        target = url or self.record.callback_uri
        if self._events_closed or self.sender is None or target is None:
            return
        moment = _now()
        event = cloud_event(
            name=name,
            connection_id=self.connection_id,
            server_call_id=self.record.server_call_id,
            correlation_id=self.record.correlation_id,
            version=self.record.api_version or DEFAULT_API_VERSION,
            fields=fields,
            operation_context=operation_context,
            result=result,
            source=source,
            moment=moment,
        )
        record = EventRecord(id=event["id"], type=name, time=moment, data=event["data"])
        self.record.events.append(record)
        self.sender.send(record, target, event)
        self.touch()

    # --- what the REST API reports -------------------------------------------------------------

    def properties(self) -> dict[str, Any]:
        """CallConnectionProperties."""
        state = {"ringing": "connecting", "transferred": "disconnected"}.get(
            self.record.state, self.record.state
        )
        body: dict[str, Any] = {
            "callConnectionId": self.connection_id,
            "serverCallId": self.record.server_call_id,
            "targets": [phone_identifier(self.record.to_number)],
            "callConnectionState": state,
            "callbackUri": self.record.callback_uri,
            "source": user_identifier(self.services.bot_raw_id),
            "correlationId": self.record.correlation_id,
        }
        if self.record.direction == "outbound":
            body["sourceCallerIdNumber"] = {"value": self.record.from_number}
        else:
            body["answeredBy"] = {"id": self.services.bot_raw_id}
            body["answeredFor"] = {"value": self.record.to_number}
        if self.media_options is not None:
            body["mediaStreamingSubscription"] = {
                "id": self.subscription_id,
                "state": "active" if self.streaming.active else "inactive",
                "subscribedContentTypes": ["audio"],
            }
        return body

    def participants(self) -> list[dict[str, Any]]:
        return self.party.json()

    def participants_updated(self) -> None:
        self._sequence += 1
        self.emit(
            "ParticipantsUpdated",
            {"participants": self.participants(), "sequenceNumber": self._sequence},
            result=results.CONNECTED,
        )

    # --- lifecycle -----------------------------------------------------------------------------

    def ring_outbound(self) -> None:
        self.spawn(self._ring_outbound())

    async def _ring_outbound(self) -> None:
        outcome = await self.services.phones.ring(self.record.phone_number)
        if self.ended:
            return
        if outcome == "answered":
            self.connect()
            return
        result = FAILURES[outcome]
        self.emit(
            "CreateCallFailed", operation_context=self.record.operation_context, result=result
        )
        await self.end(by="network", reason=f"callee: {outcome}", result=result)

    def connect(self) -> None:
        """Both ends are in the call: CallConnected, ParticipantsUpdated, then media."""
        self.record.state = "connected"
        self.record.connected_at = _now()
        self.emit(
            "CallConnected",
            operation_context=self.record.operation_context,
            result=results.CONNECTED,
        )
        self.participants_updated()
        if self.media_options is not None and self.media_options.start_media_streaming:
            self.spawn(self.streaming.start())
        if self.record.direction == "outbound":
            self._answer_as_phone()

    def _answer_as_phone(self) -> None:
        """The callee's first words (its greeting, if it has one) go out from the answer; an
        answering machine then records the bot for a while and hangs up, as machines do."""
        phones = self.services.phones
        greeting = phones.greeting(self.record.phone_number)
        if greeting is not None and self.record.media.sample_rate:
            self.audio.push(greeting.at(self.record.media.sample_rate))
        phone = phones.get(self.record.phone_number)
        if phone.answer == "voicemail":
            self.spawn(self._record_message(phone.message_max_ms / 1000))

    async def _record_message(self, max_s: float) -> None:
        # The greeting (and beep) drains at the media clock's pace once the stream is open.
        while True:
            if not self.audio.pending_bytes or self.ended:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(max_s)
        if not self.ended:
            await self.end(
                by="phone", reason="voicemail: message recorded", result=results.PHONE_HUNG_UP
            )

    async def end(
        self, *, by: str, reason: str, result: ResultInfo, state: CallState = "disconnected"
    ) -> None:
        """The bot's leg is over: stop everything, CallDisconnected is the last event."""
        if self.ended:
            return
        self.record.state = state
        self.record.ended_at = _now()
        self.record.hang_up = HangUpRecord.model_validate(
            {"by": by, "reason": reason, "at": self.record.ended_at, "result_information": result}
        )
        for transfer in self.record.transfers:
            if transfer.outcome == "pending":
                transfer.outcome = "abandoned"
        self.party.call_ended()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        self.ops.stop()
        if self.record.callback_uri is not None:
            self.emit("CallDisconnected", result=result)
        self._events_closed = True
        media = self.streaming.detach()
        if media is not None:
            self.services.background(media.close())
        if self.sender is not None:
            self.services.background(self.sender.close(self.timings.callback_timeout_s + 1))
        self.touch()

    async def shutdown(self) -> None:
        """Emulator reset or stop: drop the call without telling anyone."""
        self._events_closed = True
        self.ops.stop()
        for task in list(self._tasks):
            task.cancel()
        media = self.streaming.detach()
        if media is not None:
            await media.close()
        if self.sender is not None:
            self.sender.cancel()

    async def leave(self) -> None:
        """`hang_up(is_for_everyone=False)`: the bot's leg ends; with a participant it added
        still on the line (a warm transfer's agent), the caller and they talk on without it."""
        joined = [a.raw_id for a in self.record.added if a.state == "joined"]
        if self.record.phone_left_at is None:
            joined = [self.party.phone_raw_id(), *joined]
        reason = "hang_up(is_for_everyone=False)"
        if len(joined) > 1:  # two people stay on the line
            self.record.continued_between = joined
            self.record.on_hold = []
            reason += ": the others stay connected"
        await self.end(by="bot", reason=reason, result=results.BOT_HUNG_UP)

    # --- transfer -------------------------------------------------------------------------------

    def transfer(self, target: Identifier, operation_context: str | None, url: str | None) -> None:
        if any(t.outcome == "pending" for t in self.record.transfers):
            raise AcsError(409, "8519", "Conflict: a transfer is already in progress.")
        record = TransferRecord(target=target.key(), operation_context=operation_context)
        self.record.transfers.append(record)
        self.touch()
        self.spawn(self._transfer(record, target.phone() or target.key(), url))

    async def _transfer(self, record: TransferRecord, number: str, url: str | None) -> None:
        outcome = await self.services.phones.ring(number)
        if self.ended:
            return
        if outcome != "answered":
            record.outcome = "failed"
            record.result_information = FAILURES[outcome]
            self.emit(
                "CallTransferFailed",
                operation_context=record.operation_context,
                result=FAILURES[outcome],
                url=url,
            )
            return
        record.outcome = "accepted"
        record.result_information = results.TRANSFER_ACCEPTED
        fields = {
            "transferTarget": identifier_for(record.target),
            "transferee": phone_identifier(self.record.phone_number),
        }
        self.emit(
            "CallTransferAccepted",
            fields,
            operation_context=record.operation_context,
            result=results.TRANSFER_ACCEPTED,
            url=url,
        )
        await self.end(
            by="transfer",
            reason=f"transferred to {record.target}",
            result=results.TRANSFERRED,
            state="transferred",
        )

    # --- the phone's side -----------------------------------------------------------------------

    def press(self, tones: str, source: str | None = None) -> None:
        """Key presses: DtmfData on the media socket, input for a listening recognize.
        `source`: the raw id of an added participant who pressed them (None: the phone)."""
        bad = [t for t in tones if t.upper() not in TONE_NAMES]
        if bad or not tones:
            raise ValueError(f"not DTMF tones: {tones!r} (use 0-9, *, #, A-D)")
        for tone in tones.upper():
            if source is None:
                self.record.dtmf_pressed.append(tone)
                self.streaming.send_dtmf(tone)  # the stream carries the caller's leg only
            if self.ops.accepting_input:
                self._inputs.put_nowait(PhoneInput("dtmf", TONE_NAMES[tone], source=source))
                self.ops.input_arrived.set()
            else:
                self.record.dtmf_ignored.append(tone)
        self.touch()

    def say(self, text: str, confidence: float) -> None:
        """What a recognize with speech hears (no audio is synthesized)."""
        self.record.speech_said.append(text)
        if self.ops.accepting_input:
            self._inputs.put_nowait(PhoneInput("speech", text, confidence))
            self.ops.input_arrived.set()
        self.touch()

    def inputs_clear(self) -> None:
        while not self._inputs.empty():
            self._inputs.get_nowait()

    async def next_input(
        self, timeout_s: float, kinds: set[str], source: str | None = None
    ) -> PhoneInput | None:
        """The next DTMF or speech of an accepted kind from `source` (None: the phone), or
        None after timeout_s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while (remaining := deadline - loop.time()) > 0:
            try:
                item = await asyncio.wait_for(self._inputs.get(), remaining)
            except TimeoutError:
                return None
            if item.kind in kinds and item.source == source:
                return item
        return None
