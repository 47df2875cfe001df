"""Call control: placing, answering and driving calls; hang-up and transfer for the tools.

A call with no connection id is held on the chat channel: there is no line to hang up and a
transfer is queued as a hand-off (`ChatTelephony`). Calls with a connection go to the phone line.
"""

from __future__ import annotations

from collections.abc import Awaitable

from temporalio import activity
from temporalio.exceptions import ApplicationError

from core import call_secrets
from core.settings import TelephonySettings
from domain.contracts import (
    AnswerCallInput,
    CallConnection,
    ConnectInput,
    ConnectionState,
    ConnectionStateInput,
    HangUpInput,
    MediaInput,
    PlaceCallInput,
    PlayInput,
    RecognizeInput,
    RecordingInput,
    TransferInput,
    TransferResult,
)
from domain.transfer import AddAgentInput, AddAgentResult, BriefAgentInput, FinishTransferInput
from providers.telephony.acs import TelephonyRejected
from providers.telephony.base import PhoneLine
from providers.telephony.chat import ChatTelephony
from providers.telephony.connections import ConnectionRegistry


class TelephonyActivities:
    def __init__(
        self,
        phone: PhoneLine | None,
        settings: TelephonySettings,
        connections: ConnectionRegistry | None = None,
    ) -> None:
        self._phone = phone
        self._settings = settings
        self._connections = connections
        self._chat = ChatTelephony()

    def _line(self) -> PhoneLine:
        if self._phone is None:
            raise ApplicationError(
                "no phone line configured (telephony.kind is none)",
                type="NoPhoneLine",
                non_retryable=True,
            )
        return self._phone

    def callback_url(self, call_id: str) -> str:
        base = self._settings.public_url.rstrip("/")
        secret = call_secrets.callback_secret(self._settings.call_secret_key, call_id)
        return f"{base}/communicationservices/callback/{call_id}/{secret}"

    def media_url(self, call_id: str) -> str:
        token = call_secrets.media_token(self._settings.call_secret_key, call_id)
        return f"{self._settings.media_url.rstrip('/')}/{call_id}/{token}"

    @activity.defn(name="connect_call")
    async def connect_call(self, input: ConnectInput) -> CallConnection:
        """Ring the customer, or answer their call. Safe to retry: no second ring."""
        line = self._line()
        # Derived here, not passed in: the secrets never enter the activity's recorded input.
        callback = self.callback_url(input.call_id)
        media = self.media_url(input.call_id)
        fmt = self._settings.audio_format
        try:
            if input.incoming_call_context:
                connection = await line.answer_call(
                    AnswerCallInput(
                        call_id=input.call_id,
                        incoming_call_context=input.incoming_call_context,
                        callback_url=callback,
                        media_url=media,
                        audio_format=fmt,
                        start_media=input.start_media,
                    ),
                    first_sent=activity.info().scheduled_time,
                )
            else:
                connection = await line.place_call(
                    PlaceCallInput(
                        call_id=input.call_id,
                        to=input.to,
                        callback_url=callback,
                        media_url=media,
                        audio_format=fmt,
                        start_media=input.start_media,
                    ),
                    first_sent=activity.info().scheduled_time,
                )
        except TelephonyRejected as exc:
            raise ApplicationError(str(exc), type="CallRejected", non_retryable=True) from exc
        if self._connections is not None:
            await self._connections.link(connection.connection_id, input.call_id)
        return connection

    @activity.defn(name="play")
    async def play(self, input: PlayInput) -> None:
        await self._rejectable(self._line().play(input))

    @activity.defn(name="recognize")
    async def recognize(self, input: RecognizeInput) -> None:
        await self._rejectable(self._line().recognize(input))

    @activity.defn(name="start_media")
    async def start_media(self, input: MediaInput) -> None:
        await self._rejectable(self._line().start_media(input))

    @activity.defn(name="stop_media")
    async def stop_media(self, input: MediaInput) -> None:
        await self._rejectable(self._line().stop_media(input))

    @activity.defn(name="start_recording")
    async def start_recording(self, input: RecordingInput) -> None:
        await self._rejectable(self._line().start_recording(input))

    @activity.defn(name="call_connection_state")
    async def call_connection_state(self, input: ConnectionStateInput) -> ConnectionState:
        """ACS's state of the connection: the workflow's check when a callback is overdue."""
        try:
            return await self._line().connection_state(input.call_id, input.connection_id)
        except TelephonyRejected as exc:
            raise ApplicationError(str(exc), type="TelephonyRejected", non_retryable=True) from exc

    @activity.defn(name="hang_up")
    async def hang_up(self, input: HangUpInput) -> None:
        if input.connection_id is None or self._phone is None:
            await self._chat.hang_up(input.call_id, input.connection_id)
            return
        await self._rejectable(self._phone.hang_up(input.call_id, input.connection_id))

    @activity.defn(name="transfer_call")
    async def transfer_call(self, input: TransferInput) -> TransferResult:
        if input.connection_id is None or self._phone is None:
            return await self._chat.transfer(input.call_id, input.connection_id, input.target)
        return await self._phone.transfer(input.call_id, input.connection_id, input.target)

    # --- warm transfer (`domain/transfer.py`) ---------------------------------------------------

    @activity.defn(name="add_agent")
    async def add_agent(self, input: AddAgentInput) -> AddAgentResult:
        """Hold the caller and ring the agent in; a retry rings them once."""
        try:
            return await self._line().add_agent(input, first_sent=activity.info().scheduled_time)
        except TelephonyRejected as exc:
            raise ApplicationError(str(exc), type="TelephonyRejected", non_retryable=True) from exc

    @activity.defn(name="brief_agent")
    async def brief_agent(self, input: BriefAgentInput) -> None:
        await self._rejectable(self._line().brief_agent(input))

    @activity.defn(name="finish_transfer")
    async def finish_transfer(self, input: FinishTransferInput) -> None:
        await self._rejectable(self._line().finish_transfer(input))

    @staticmethod
    async def _rejectable(operation: Awaitable[None]) -> None:
        try:
            await operation
        except TelephonyRejected as exc:
            # ACS refused (4xx): retrying the same request cannot succeed.
            raise ApplicationError(str(exc), type="TelephonyRejected", non_retryable=True) from exc
