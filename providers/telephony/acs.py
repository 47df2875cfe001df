"""The phone line through Azure Communication Services Call Automation (or the local emulator).

One `CallAutomationClient` built from an explicit endpoint and key: a connection string would
silently turn an `http://` endpoint (the emulator) into `https://`. Errors come out as
`TelephonyRejected` (ACS refused the request: retrying it cannot help) or `TelephonyUnavailable`
(server error, throttling, network: retry later).

Ringing, answering and recording are idempotent across activity retries when the caller gives
`first_sent` (the first attempt's time, e.g. the activity's `scheduled_time`): the request then
carries a `Repeatability-Request-ID` derived from the call and that `Repeatability-First-Sent`.
ACS remembers such requests for 5 minutes and answers a repeat with the first answer (409 while
the first is still running) instead of executing it again; a repeat whose first-sent time is
older than that gets 412. Without `first_sent` the SDK's own headers are used: unique per call
of the method, kept across the SDK's internal retries only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, TypeVar

from azure.communication.callautomation import (
    AudioFormat,
    AzureBlobContainerRecordingStorage,
    CallConnectionProperties,
    DtmfTone,
    MediaStreamingAudioChannelType,
    MediaStreamingContentType,
    MediaStreamingOptions,
    PhoneNumberIdentifier,
    RecognitionChoice,
    RecognizeInputType,
    RecordingChannel,
    RecordingContent,
    RecordingFormat,
    SsmlSource,
    StreamingTransportType,
    TextSource,
)
from azure.communication.callautomation.aio import CallAutomationClient, CallConnectionClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import AzureError, HttpResponseError

from domain.contracts import (
    AnswerCallInput,
    CallConnection,
    ConnectionState,
    MediaInput,
    PlaceCallInput,
    PlayInput,
    PromptPart,
    RecognizeInput,
    RecordingInput,
    TransferResult,
)
from domain.contracts import AudioFormat as AudioFormatName
from domain.transfer import AddAgentInput, AddAgentResult, BriefAgentInput, FinishTransferInput

__all__ = [
    "REPEATABILITY_WINDOW",
    "TRANSFER_CONTEXT",
    "AcsTelephony",
    "TelephonyError",
    "TelephonyRejected",
    "TelephonyUnavailable",
    "repeatability_headers",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# How long ACS remembers a repeatable request (documented for ACS REST APIs: 5 minutes).
REPEATABILITY_WINDOW = timedelta(minutes=5)
# Fixed namespace: the same call must map to the same request id in every worker process.
_REPEATABILITY_NAMESPACE = uuid.UUID("5b0c4a5e-1f7e-4d7c-9a55-3c2f0e6c9a11")
TRANSFER_CONTEXT = "transfer"

_AUDIO_FORMATS: dict[AudioFormatName, AudioFormat] = {
    "pcm16k": AudioFormat.PCM16_K_MONO,
    "pcm24k": AudioFormat.PCM24_K_MONO,
}
# Statuses worth retrying: the same request may succeed later.
_RETRYABLE_STATUSES = frozenset({408, 429})


class TelephonyError(Exception):
    """A Call Automation request failed."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class TelephonyRejected(TelephonyError):
    """ACS refused the request (4xx): sending it again cannot succeed."""


class TelephonyUnavailable(TelephonyError):
    """ACS could not be reached or failed (5xx, 408, 429, network): worth retrying."""


def repeatability_headers(key: str, first_sent: datetime) -> dict[str, str]:
    """Headers that make a POST safe to repeat: the same `key` and time, the same headers."""
    # A naive datetime is taken as UTC (never as local time): the header is in GMT.
    sent = first_sent.replace(tzinfo=UTC) if first_sent.tzinfo is None else first_sent
    sent = sent.astimezone(UTC).replace(microsecond=0)
    # The first-sent time is part of the key: a deliberate new request for the same call (a new
    # activity, e.g. ringing again later) is a new request; attempts of one activity are not.
    name = f"{key}/{int(sent.timestamp())}"
    return {
        "Repeatability-Request-ID": str(uuid.uuid5(_REPEATABILITY_NAMESPACE, name)),
        "Repeatability-First-Sent": format_datetime(sent, usegmt=True),
    }


def _repeatable(key: str, first_sent: datetime | None) -> dict[str, Any]:
    # Keyword arguments for the SDK method. A stable request id sent with a first-sent time
    # that changes between attempts risks being a mismatched repeat (ACS answers 400 to those):
    # without the first attempt's time, leave both headers to the SDK.
    if first_sent is None:
        return {}
    return {"headers": repeatability_headers(key, first_sent)}


def _describe(exc: AzureError) -> tuple[int | None, str | None, str]:
    if isinstance(exc, HttpResponseError):
        code = exc.error.code if exc.error is not None else None
        return exc.status_code, code, exc.message or str(exc)
    return None, None, str(exc) or type(exc).__name__


def _translate(operation: str, exc: AzureError, *, repeatable: bool) -> TelephonyError:
    status, code, message = _describe(exc)
    text = f"ACS {operation} failed: {status or type(exc).__name__} {code or ''} {message}"
    text = " ".join(text.split())
    if status is None or status >= 500 or status in _RETRYABLE_STATUSES:
        return TelephonyUnavailable(text, status=status, code=code)
    if status == 409 and repeatable:
        # A repeat of a request ACS is still executing: ask again once it has finished.
        return TelephonyUnavailable(text, status=status, code=code)
    if status == 412 and repeatable:
        text += (
            " (first attempt older than the repeatability window: ACS cannot tell whether it "
            "already ran, so it is not repeated)"
        )
    return TelephonyRejected(text, status=status, code=code)


class AcsTelephony:
    """`PhoneLine` on Azure Communication Services Call Automation."""

    def __init__(
        self,
        *,
        endpoint: str,
        access_key: str,
        bot_phone_number: str,
        cognitive_services_endpoint: str | None = None,
        recording_container_url: str | None = None,
        retry_total: int = 3,
        retry_backoff_factor: float = 0.8,
        api_version: str | None = None,
    ) -> None:
        # The HMAC signature covers the endpoint's host as written: a trailing slash would
        # end up in it and the service would reject every request.
        self._client = CallAutomationClient(
            endpoint.rstrip("/"),
            AzureKeyCredential(access_key),
            api_version=api_version,
            retry_total=retry_total,
            retry_backoff_factor=retry_backoff_factor,
        )
        self._bot = PhoneNumberIdentifier(bot_phone_number)
        self._cognitive_services_endpoint = cognitive_services_endpoint
        self._recording_container_url = recording_container_url

    async def close(self) -> None:
        await self._client.close()

    async def place_call(
        self, input: PlaceCallInput, *, first_sent: datetime | None = None
    ) -> CallConnection:
        """Ring the customer. `first_sent`: when the first attempt was made (activity schedule)."""
        log.info("call %s: ringing the customer", input.call_id)
        properties = await self._run(
            "create_call",
            self._client.create_call(
                PhoneNumberIdentifier(input.to),
                input.callback_url,
                source_caller_id_number=self._bot,
                operation_context=input.call_id,
                cognitive_services_endpoint=self._cognitive_services_endpoint,
                media_streaming=self._media(input.media_url, input.audio_format, input.start_media),
                **_repeatable(f"place_call/{input.call_id}", first_sent),
            ),
            repeatable=first_sent is not None,
        )
        return _connection("create_call", properties)

    async def answer_call(
        self, input: AnswerCallInput, *, first_sent: datetime | None = None
    ) -> CallConnection:
        """Answer an incoming call; a retry answers the same incoming call only once."""
        # The incoming call context is unique per ring, so a customer calling back (same call
        # id) is a new request while retries of one answer are not.
        key = f"answer_call/{input.call_id}/{input.incoming_call_context}"
        log.info("call %s: answering", input.call_id)
        properties = await self._run(
            "answer_call",
            self._client.answer_call(
                input.incoming_call_context,
                input.callback_url,
                operation_context=input.call_id,
                cognitive_services_endpoint=self._cognitive_services_endpoint,
                media_streaming=self._media(input.media_url, input.audio_format, input.start_media),
                **_repeatable(key, first_sent),
            ),
            repeatable=first_sent is not None,
        )
        return _connection("answer_call", properties)

    async def play(self, input: PlayInput) -> None:
        """Play text or SSML to everyone on the call, queued after media already playing."""
        source: TextSource | SsmlSource
        if input.ssml:
            source = SsmlSource(ssml_text=input.text)
        else:
            source = TextSource(
                text=input.text,
                voice_name=input.voice,
                source_locale=input.lang,
                custom_voice_endpoint_id=input.custom_voice_endpoint_id,
            )
        # play_to="all" (play-to-all): the only form where the SDK sends the interrupt flag
        # it is given; play_media_to_all is the deprecated spelling of the same request.
        await self._run(
            "play",
            self._connection(input.connection_id).play_media(
                source,
                "all",
                operation_context=input.operation_context,
                interrupt_call_media_operation=False,
            ),
        )

    async def recognize(self, input: RecognizeInput) -> None:
        """Prompt, then recognise one of the choices by keypad tone or speech."""
        choices = [
            RecognitionChoice(label=c.label, phrases=list(c.phrases), tone=DtmfTone(c.tone))
            for c in input.choices
        ]
        parts = input.prompts or [
            PromptPart(
                text=input.prompt,
                voice=input.voice,
                lang=input.lang,
                custom_voice_endpoint_id=input.custom_voice_endpoint_id,
            )
        ]
        sources = [
            TextSource(
                text=part.text,
                voice_name=part.voice,
                source_locale=part.lang,
                custom_voice_endpoint_id=part.custom_voice_endpoint_id,
            )
            for part in parts
        ]
        prompt: TextSource | list[TextSource] = sources[0] if len(sources) == 1 else sources
        await self._run(
            "recognize",
            self._connection(input.connection_id).start_recognizing_media(
                RecognizeInputType.CHOICES,
                PhoneNumberIdentifier(input.target),
                choices=choices,
                play_prompt=prompt,
                interrupt_prompt=True,
                initial_silence_timeout=input.silence_timeout_sec,
                speech_language=input.lang,
                operation_context=input.operation_context,
            ),
        )

    async def transfer(
        self, call_id: str, connection_id: str | None, target: str
    ) -> TransferResult:
        """Transfer the caller to `target`; a refusal is a failed result, not an error."""
        if connection_id is None:
            return TransferResult(status="failed", detail="the call has no phone connection")
        log.info("call %s: transferring to %s", call_id, target)
        try:
            await self._connection(connection_id).transfer_call_to_participant(
                PhoneNumberIdentifier(target), operation_context=TRANSFER_CONTEXT
            )
        except HttpResponseError as exc:
            # Answered by ACS (after the SDK's own retries): the workflow tells the customer.
            status, code, message = _describe(exc)
            log.warning("call %s: transfer to %s refused: %s %s", call_id, target, status, code)
            return TransferResult(status="failed", detail=f"{status} {code or ''} {message}")
        except AzureError as exc:
            raise _translate("transfer", exc, repeatable=False) from exc
        except AttributeError:
            # SDK 1.6.0 reads `operationContext` from the 202 body and crashes on an empty one;
            # ACS accepted the transfer all the same, so reporting a failure would be wrong.
            log.info("call %s: transfer accepted (202 without a body)", call_id)
        return TransferResult(status="transferring")

    async def hang_up(self, call_id: str, connection_id: str | None) -> None:
        """End the call for everyone; a call that is already gone counts as hung up."""
        if connection_id is None:
            return
        try:
            # Terminating twice is harmless (the second gets 404): no repeatability needed.
            await self._connection(connection_id).hang_up(is_for_everyone=True)
        except HttpResponseError as exc:
            if exc.status_code == 404:
                log.info("call %s: connection %s already ended", call_id, connection_id)
                return
            raise _translate("hang_up", exc, repeatable=True) from exc
        except AzureError as exc:
            raise _translate("hang_up", exc, repeatable=True) from exc

    async def connection_state(self, call_id: str, connection_id: str) -> ConnectionState:
        """ACS's view of the connection now; "gone" when it no longer knows it (404)."""
        try:
            properties = await self._connection(connection_id).get_call_properties()
        except HttpResponseError as exc:
            if exc.status_code == 404:
                log.info("call %s: connection %s is gone", call_id, connection_id)
                return ConnectionState(state="gone")
            raise _translate("get_call_properties", exc, repeatable=False) from exc
        except AzureError as exc:
            raise _translate("get_call_properties", exc, repeatable=False) from exc
        state = properties.call_connection_state
        return ConnectionState(
            state=str(getattr(state, "value", state) or "unknown"),
            server_call_id=properties.server_call_id,
        )

    async def start_media(self, input: MediaInput) -> None:
        await self._run(
            "start_media_streaming",
            self._connection(input.connection_id).start_media_streaming(
                operation_context=input.operation_context or None
            ),
        )

    async def stop_media(self, input: MediaInput) -> None:
        await self._run(
            "stop_media_streaming",
            self._connection(input.connection_id).stop_media_streaming(
                operation_context=input.operation_context or None
            ),
        )

    async def start_recording(
        self, input: RecordingInput, *, first_sent: datetime | None = None
    ) -> None:
        """Record the call (one channel per participant, WAV); retries start it once."""
        storage = (
            AzureBlobContainerRecordingStorage(self._recording_container_url)
            if self._recording_container_url
            else None
        )
        key = f"start_recording/{input.server_call_id}"
        await self._run(
            "start_recording",
            self._client.start_recording(
                server_call_id=input.server_call_id,
                recording_content_type=RecordingContent.AUDIO,
                recording_channel_type=RecordingChannel.UNMIXED,
                recording_format_type=RecordingFormat.WAV,
                recording_storage=storage,
                **_repeatable(key, first_sent),
            ),
            repeatable=first_sent is not None,
        )

    # --- warm transfer (`domain/transfer.py`) ---------------------------------------------------

    async def add_agent(
        self, input: AddAgentInput, *, first_sent: datetime | None = None
    ) -> AddAgentResult:
        """Hold the caller, then ring the agent into the call with our number as caller id;
        `AddParticipantSucceeded`/`Failed` says how it went (after `ring_timeout_sec` at most).
        A retry rings the agent once (repeatability, with `first_sent`)."""
        connection = self._connection(input.connection_id)
        log.info("call %s: caller on hold, ringing the agent", input.call_id)
        # Holding twice is harmless: no repeatability needed.
        await self._run(
            "hold",
            connection.hold(
                PhoneNumberIdentifier(input.customer), operation_context=input.operation_context
            ),
        )
        result = await self._run(
            "add_participant",
            connection.add_participant(
                PhoneNumberIdentifier(input.agent),
                invitation_timeout=input.ring_timeout_sec,
                operation_context=input.operation_context,
                source_caller_id_number=self._bot,
                **_repeatable(f"add_agent/{input.call_id}/{input.connection_id}", first_sent),
            ),
            repeatable=first_sent is not None,
        )
        return AddAgentResult(invitation_id=result.invitation_id)

    async def brief_agent(self, input: BriefAgentInput) -> None:
        """The briefing played to the agent alone (the held caller hears nothing of it), then
        a one-key recognize aimed at the agent; both queue as ACS queues media operations."""
        connection = self._connection(input.connection_id)
        agent = PhoneNumberIdentifier(input.agent)

        def spoken(text: str) -> TextSource:
            return TextSource(
                text=text,
                voice_name=input.voice,
                source_locale=input.lang,
                custom_voice_endpoint_id=input.custom_voice_endpoint_id,
            )

        await self._run(
            "play",
            connection.play_media(
                spoken(input.briefing), [agent], operation_context=input.briefing_context
            ),
        )
        await self._run(
            "recognize",
            connection.start_recognizing_media(
                RecognizeInputType.DTMF,
                agent,
                play_prompt=spoken(input.prompt),
                interrupt_prompt=True,
                initial_silence_timeout=input.answer_timeout_sec,
                dtmf_max_tones_to_collect=1,
                operation_context=input.answer_context,
            ),
        )

    async def finish_transfer(self, input: FinishTransferInput) -> None:
        """Connect: the caller off hold, then the bot leaves (`hang_up(is_for_everyone=False)`),
        caller and agent stay on. Release: the agent removed (or the ringing invitation
        withdrawn), the caller off hold. A step already done (a retry) or moot (the agent or
        the caller already gone) is skipped."""
        connection = self._connection(input.connection_id)
        customer = PhoneNumberIdentifier(input.customer)
        context = input.operation_context
        if input.connect:
            await self._gone_ok("unhold", connection.unhold(customer, operation_context=context))
            log.info("call %s: caller and agent connected; the bot leaves", input.call_id)
            await self._gone_ok("hang_up", connection.hang_up(is_for_everyone=False))
            return
        if input.agent_joined:
            agent = PhoneNumberIdentifier(input.agent)
            await self._gone_ok(
                "remove_participant",
                connection.remove_participant(agent, operation_context=context),
            )
        elif input.invitation_id:
            await self._gone_ok(
                "cancel_add_participant",
                connection.cancel_add_participant_operation(
                    input.invitation_id, operation_context=context
                ),
            )
        await self._gone_ok("unhold", connection.unhold(customer, operation_context=context))

    @staticmethod
    async def _gone_ok(operation: str, request: Awaitable[object]) -> None:
        """Run a step whose target may be gone already (404, or 400 on an ended call)."""
        try:
            await request
        except HttpResponseError as exc:
            if exc.status_code in (400, 404):
                # Status and code only: ACS's message may name the participant's number.
                status, code, _ = _describe(exc)
                log.info("ACS %s skipped: %s %s", operation, status, code or "")
                return
            raise _translate(operation, exc, repeatable=False) from exc
        except AzureError as exc:
            raise _translate(operation, exc, repeatable=False) from exc

    def _connection(self, connection_id: str) -> CallConnectionClient:
        # Shares the main client's pipeline: never close it (that would close the main one).
        return self._client.get_call_connection(connection_id)

    @staticmethod
    def _media(
        media_url: str | None, audio_format: AudioFormatName, start: bool
    ) -> MediaStreamingOptions | None:
        if media_url is None:
            return None
        return MediaStreamingOptions(
            transport_url=media_url,
            transport_type=StreamingTransportType.WEBSOCKET,
            content_type=MediaStreamingContentType.AUDIO,
            # MIXED: one mono stream of what the bot should hear (the caller); UNMIXED would
            # split it per participant, tagged frames the gateway would have to mix itself.
            audio_channel_type=MediaStreamingAudioChannelType.MIXED,
            start_media_streaming=start,
            enable_bidirectional=True,
            audio_format=_AUDIO_FORMATS[audio_format],
            enable_dtmf_tones=True,
        )

    @staticmethod
    async def _run(operation: str, request: Awaitable[_T], *, repeatable: bool = False) -> _T:
        try:
            return await request
        except AzureError as exc:
            raise _translate(operation, exc, repeatable=repeatable) from exc


def _connection(operation: str, properties: CallConnectionProperties) -> CallConnection:
    if not properties.call_connection_id:
        raise TelephonyUnavailable(f"ACS {operation} answered without a callConnectionId")
    return CallConnection(
        connection_id=properties.call_connection_id,
        server_call_id=properties.server_call_id,
        correlation_id=properties.correlation_id,
    )
