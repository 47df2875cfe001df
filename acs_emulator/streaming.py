"""Media streaming of one call: start, stop, and the events that report them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from acs_emulator import results
from acs_emulator.media import MediaSession
from acs_emulator.models import ResultInfo

if TYPE_CHECKING:
    from acs_emulator.calls import Call


def _update(status: str, details: str) -> dict[str, object]:
    return {
        "mediaStreamingUpdate": {
            "contentType": "Audio",
            "mediaStreamingStatus": status,
            "mediaStreamingStatusDetails": details,
        }
    }


class Streaming:
    """At most one media WebSocket per call, opened and closed on the bot's request."""

    def __init__(self, call: Call) -> None:
        self._call = call
        self.session: MediaSession | None = None

    @property
    def active(self) -> bool:
        return self.session is not None

    def send_dtmf(self, tone: str) -> None:
        if self.session is not None and self._call.record.media.dtmf_enabled:
            self.session.send_dtmf(tone)

    def detach(self) -> MediaSession | None:
        """Take the session away (the call ended); the caller closes it."""
        session, self.session = self.session, None
        return session

    async def start(self, operation_context: str | None = None, url: str | None = None) -> None:
        call = self._call
        options, record = call.media_options, call.record.media
        if options is None or self.session is not None:
            return
        record.start_requested = True
        if not options.transport_url:
            record.connect_error = "no transportUrl"
            self._failed("streamUrlMissing", operation_context, url)
            return
        headers = {
            "x-ms-call-connection-id": call.connection_id,
            "x-ms-call-correlation-id": call.record.correlation_id,
            "Authorization": f"Bearer {call.services.signer.token()}",
        }
        session = self.session = MediaSession(
            http=call.services.http,
            url=options.transport_url,
            headers=headers,
            sample_rate=record.sample_rate or 16_000,
            subscription_id=call.subscription_id,
            participant_raw_id=f"4:{call.record.phone_number}",
            record=record,
            audio=call.audio,
            received=call.received_audio,
            on_change=call.touch,
            on_server_close=self._closed_by_server,
            verify_tls=call.services.config.media_verify_tls,
        )
        error = await session.connect(call.timings.media_connect_timeout_s)
        if call.ended or self.session is not session:  # hung up or stopped while connecting
            await session.close()
            return
        if error is not None:
            self.session = None
            record.connect_error = error
            self._failed("initialWebSocketConnectionFailed", operation_context, url)
            return
        call.emit(
            "MediaStreamingStarted",
            _update("mediaStreamingStarted", "subscriptionStarted"),
            operation_context=operation_context,
            result=results.ACTION_OK,
            url=url,
        )

    async def stop(self, operation_context: str | None, url: str | None) -> None:
        session, self.session = self.session, None
        if session is not None:
            await session.close()
        self._stopped("subscriptionStopped", results.ACTION_OK, operation_context, url)

    def _closed_by_server(self) -> None:
        if self.session is None or self._call.ended:
            return
        self.session = None
        self._stopped("streamConnectionInterrupted", results.MEDIA_INTERRUPTED, None, None)

    def _failed(self, details: str, operation_context: str | None, url: str | None) -> None:
        self._call.emit(
            "MediaStreamingFailed",
            _update("mediaStreamingFailed", details),
            operation_context=operation_context,
            result=results.MEDIA_CONNECT_FAILED,
            url=url,
        )

    def _stopped(
        self, details: str, result: ResultInfo, operation_context: str | None, url: str | None
    ) -> None:
        self._call.emit(
            "MediaStreamingStopped",
            _update("mediaStreamingStopped", details),
            operation_context=operation_context,
            result=result,
            url=url,
        )
