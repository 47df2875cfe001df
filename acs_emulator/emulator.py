"""The emulated ACS resource: its calls, phones, incoming-call contexts and recordings."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

import aiohttp

from acs_emulator import ids, results
from acs_emulator.auth import TokenSigner
from acs_emulator.calls import Call, Services
from acs_emulator.config import EmulatorConfig
from acs_emulator.errors import AcsError, bad_request, call_not_established, call_not_found
from acs_emulator.errors import call_terminated as terminated
from acs_emulator.eventgrid import EventGrid
from acs_emulator.models import CallRecord, DialResult, RecordingRecord
from acs_emulator.repeatability import RepeatabilityCache
from acs_emulator.schemas import AnswerCall, CreateCall, RedirectCall, RejectCall, StartRecording
from acs_emulator.softphones import SoftphoneBook


def _now() -> datetime:
    return datetime.now(UTC)


class Emulator:
    """All state of one emulator process; REST and control handlers call into it."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.signer = TokenSigner(issuer=config.issuer, audience=config.resource_id)
        self.bot_raw_id = ids.bot_identity(config.resource_id)
        # Phones whose rings go to an open softphone page take those (the rest: PhoneBook).
        self.phones = SoftphoneBook(lambda: self.config.timings)
        self.repeatability = RepeatabilityCache(config.repeatability_ttl_s)
        self.calls: dict[str, Call] = {}
        self.base_url = ""
        self.version = 0
        self._contexts: dict[str, str] = {}  # incomingCallContext -> connection id
        self._changed = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None
        self._event_grid: EventGrid | None = None

    # --- plumbing -------------------------------------------------------------------------------

    async def start(self, base_url: str) -> None:
        self.base_url = base_url
        # No connection pooling limits: a slow callback receiver must not stall other calls.
        # Idle connections are dropped before common servers drop them (uvicorn after 5 s),
        # so a callback seldom goes out on a connection the receiver is closing.
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=3.0)
        self._http = aiohttp.ClientSession(connector=connector)
        self._event_grid = EventGrid(
            self._http,
            self.config.resource_id,
            lambda: self.base_url,
            lambda: self.config.timings.callback_timeout_s,
        )

    async def stop(self) -> None:
        await self.reset()
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    @property
    def event_grid(self) -> EventGrid:
        if self._event_grid is None:
            raise RuntimeError("the emulator is not started")
        return self._event_grid

    @property
    def services(self) -> Services:
        if self._http is None:
            raise RuntimeError("the emulator is not started")
        return Services(
            http=self._http,
            signer=self.signer,
            config=self.config,
            phones=self.phones,
            touch=self.touch,
            background=self.background,
            bot_raw_id=self.bot_raw_id,
        )

    def touch(self) -> None:
        """Something observable changed: wake the long-polls."""
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_changed(self, since: int, timeout_s: float) -> None:
        if self.version != since:
            return
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
        except TimeoutError:
            return

    def background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def reset(self) -> None:
        calls = list(self.calls.values())
        self.calls.clear()
        self._contexts.clear()
        self.phones.clear()
        self.repeatability.clear()
        if self._event_grid is not None:
            self._event_grid.reset()
        await asyncio.gather(*(call.shutdown() for call in calls), return_exceptions=True)
        self.touch()

    # --- lookups --------------------------------------------------------------------------------

    def get_call(self, connection_id: str) -> Call:
        call = self.calls.get(connection_id)
        if call is None or call.sender is None:  # an unanswered incoming call has no connection yet
            raise call_not_found(connection_id)
        return call

    def existing_call(self, connection_id: str) -> Call:
        """A call that has not ended (GET, hang up)."""
        call = self.get_call(connection_id)
        if call.ended:
            raise call_not_found(connection_id)
        return call

    def live_call(self, connection_id: str) -> Call:
        """A connected call (media, transfer, recording)."""
        call = self.get_call(connection_id)
        if call.ended:
            raise terminated(connection_id)
        if call.record.state != "connected":
            raise call_not_established(connection_id)
        return call

    def _new_record(self, **fields: Any) -> CallRecord:
        return CallRecord(
            connection_id=str(uuid.uuid4()),
            server_call_id=ids.server_call_id(),
            correlation_id=str(uuid.uuid4()),
            created_at=_now(),
            **fields,
        )

    # --- outbound -------------------------------------------------------------------------------

    def create_call(self, request: CreateCall, api_version: str) -> Call:
        if len(request.targets) != 1:
            raise AcsError(405, "8520", "Functionality not supported: one target per call.")
        target = request.targets[0]
        number = target.phone()
        if number is None:
            raise AcsError(405, "8520", "Functionality not supported: only PSTN targets.")
        source = request.source_caller_id_number
        if source is None:
            raise bad_request("sourceCallerIdNumber is required to call a phone number.")
        if source.value != self.config.bot_number:
            raise AcsError(
                403, "7507", f"Call source identity invalid: {source.value} is not this resource's."
            )
        _check_url(request.callback_uri, "callbackUri")
        record = self._new_record(
            direction="outbound", phone_number=number, from_number=source.value, to_number=number
        )
        call = Call(self.services, record)
        call.attach(
            callback_uri=request.callback_uri,
            api_version=api_version,
            operation_context=request.operation_context,
            media=request.media_streaming_options,
        )
        self.calls[record.connection_id] = call
        call.ring_outbound()
        self.touch()
        return call

    # --- inbound --------------------------------------------------------------------------------

    async def dial(self, from_number: str, to_number: str | None, display_name: str) -> DialResult:
        """A phone calls the bot's number: Event Grid handshake, then IncomingCall."""
        to_number = to_number or self.config.bot_number
        if to_number != self.config.bot_number:
            raise AcsError(404, "NotFound", f"{to_number} is not a number of this ACS resource.")
        record = self._new_record(
            direction="inbound",
            phone_number=from_number,
            from_number=from_number,
            to_number=to_number,
        )
        context = ids.incoming_call_context(record.server_call_id)
        record.incoming_call_context = context
        call = Call(self.services, record)
        self.calls[record.connection_id] = call
        self._contexts[context] = record.connection_id
        self.touch()
        result = DialResult(
            connection_id=record.connection_id,
            server_call_id=record.server_call_id,
            correlation_id=record.correlation_id,
            incoming_call_context=context,
            delivered=False,
        )
        url = self.config.timings.event_grid_url
        if not url:
            result.detail = "no Event Grid subscription (event_grid_url is not set)"
        else:
            validation = await self.event_grid.ensure_validated(url)
            if not validation.ok:
                result.detail = f"Event Grid validation failed: {validation.detail}"
            else:
                data = {
                    "to": ids.phone_identifier(to_number),
                    "from": ids.phone_identifier(from_number),
                    "serverCallId": record.server_call_id,
                    "callerDisplayName": display_name,
                    "incomingCallContext": context,
                    "correlationId": record.correlation_id,
                }
                delivery = await self.event_grid.deliver_incoming_call(
                    url, data, f"4:{from_number}", f"4:{to_number}"
                )
                record.incoming_call_delivery = delivery
                result.delivery = delivery
                result.delivered = delivery.ok
                result.detail = delivery.error or f"webhook answered {delivery.status}"
        if not result.delivered and call.sender is None:
            await call.end(by="network", reason=result.detail, result=results.NO_ANSWER)
        else:
            ring_s = self.phones.ring_timeout_s(self.phones.get(from_number))
            call.spawn(self._unanswered(call, ring_s))
        self.touch()
        return result

    async def _unanswered(self, call: Call, after_s: float) -> None:
        await asyncio.sleep(after_s)
        if call.sender is None and not call.ended:
            await call.end(by="phone", reason="nobody answered", result=results.NO_ANSWER)

    def _incoming(self, context: str) -> Call:
        connection_id = self._contexts.get(context)
        if connection_id is None:
            raise bad_request("incomingCallContext is not one this resource issued.")
        call = self.calls.get(connection_id)
        if call is None or call.ended or call.sender is not None:
            raise AcsError(404, "8522", "Call not found: it ended or was already answered.")
        return call

    def answer_call(self, request: AnswerCall, api_version: str) -> Call:
        call = self._incoming(request.incoming_call_context)
        _check_url(request.callback_uri, "callbackUri")
        call.attach(
            callback_uri=request.callback_uri,
            api_version=api_version,
            operation_context=request.operation_context,
            media=request.media_streaming_options,
        )
        call.spawn(self._connect_later(call))
        return call

    async def _connect_later(self, call: Call) -> None:
        await asyncio.sleep(self.config.timings.connect_delay_ms / 1000)
        if not call.ended:
            call.connect()

    async def reject_call(self, request: RejectCall) -> None:
        call = self._incoming(request.incoming_call_context)
        reason = request.call_reject_reason or "none"
        await call.end(by="bot", reason=f"rejected ({reason})", result=results.DECLINED)

    async def redirect_call(self, request: RedirectCall) -> None:
        call = self._incoming(request.incoming_call_context)
        target = request.target.key()
        await call.end(by="bot", reason=f"redirected to {target}", result=results.TRANSFERRED)

    # --- recordings -----------------------------------------------------------------------------

    def start_recording(self, request: StartRecording) -> dict[str, Any]:
        call: Call | None = None
        if request.call_connection_id:
            call = self.live_call(request.call_connection_id)
        elif request.call_locator and request.call_locator.server_call_id:
            wanted = request.call_locator.server_call_id
            found = [c for c in self.calls.values() if c.record.server_call_id == wanted]
            if not found:
                raise AcsError(404, "8522", f"Call not found: server call {wanted}.")
            call = self.live_call(found[0].connection_id)
        else:
            raise bad_request("callConnectionId or callLocator.serverCallId is required.")
        if any(r.state != "stopped" for r in call.record.recordings):
            raise AcsError(400, "8559", "Recording already initiated or in progress.")
        record = RecordingRecord(
            recording_id=ids.recording_id(call.connection_id),
            state="inactive",
            callback_uri=request.recording_state_callback_uri,
        )
        call.record.recordings.append(record)
        if not request.pause_on_start:
            self.set_recording_state(call, record, "active")
        return self.recording_json(record)

    def find_recording(self, recording_id: str) -> tuple[Call, RecordingRecord]:
        for call in self.calls.values():
            for record in call.record.recordings:
                if record.recording_id == recording_id and record.state != "stopped":
                    return call, record
        raise AcsError(404, "8522", f"Recording not found: {recording_id}.")

    def set_recording_state(self, call: Call, record: RecordingRecord, state: str) -> None:
        record.state = (
            "stopped" if state == "stopped" else "active" if state == "active" else "inactive"
        )
        source = f"calling/recordings/{call.record.server_call_id}/{record.recording_id}"
        source += "/RecordingStateChanged"
        fields = {
            "eventSource": source,
            "recordingId": record.recording_id,
            "state": "active" if state == "active" else "inactive",
            "startDateTime": ids.event_time(),
            "recordingKind": "azureCommunicationServices",
        }
        call.emit(
            "RecordingStateChanged",
            fields,
            result=results.CONNECTED,
            url=record.callback_uri,
            source=source,
        )

    @staticmethod
    def recording_json(record: RecordingRecord) -> dict[str, Any]:
        return {
            "recordingId": record.recording_id,
            "recordingState": "active" if record.state == "active" else "inactive",
            "recordingKind": "azureCommunicationServices",
        }


def _check_url(url: str, name: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise bad_request(f"{name} must be an absolute http(s) URL, got {url!r}.")
