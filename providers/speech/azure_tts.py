"""Azure Speech text-to-speech, streamed: PCM chunks are yielded as the service sends them.

The SDK calls ``synthesizing`` on its own thread with each piece of audio; the piece is
copied into a ``SynthesisEvent`` there and queued on the event loop, and ``SynthesisState``
(pure, tested without the service) turns the events of one request into PCM or an error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from providers.speech.azure_stt import (
    SpeechAccount,
    SpeechError,
    load_sdk,
    post_to_loop,
    release_later,
    sdk_callback,
    sdk_errors,
)
from providers.speech.ssml import build_ssml, chunk_text, clean_text, voice_locale

log = logging.getLogger(__name__)

# Raw (headerless) PCM16LE mono formats, by sample rate.
_FORMATS = {16000: "Raw16Khz16BitMonoPcm", 24000: "Raw24Khz16BitMonoPcm"}
DEFAULT_VOICE = "en-US-AvaMultilingualNeural"


@dataclass(frozen=True)
class SynthesisEvent:
    """One SDK synthesis event, copied off the SDK thread.

    ``audio`` is the new piece for "audio" and the whole result for "completed";
    ``cancel_reason`` and ``error_code`` are SDK enum names.
    """

    kind: Literal["audio", "completed", "canceled"]
    audio: bytes = b""
    cancel_reason: str = ""
    error_code: str = ""
    error_details: str = ""


def synthesis_error(event: SynthesisEvent) -> SpeechError:
    """The ``SpeechError`` a canceled synthesis stands for."""
    return SpeechError(
        f"Azure speech synthesis failed: {event.error_code or event.cancel_reason}: "
        f"{event.error_details}",
        code=event.error_code,
        details=event.error_details,
    )


class SynthesisState:
    """Turns the events of one synthesis request into whole PCM16 samples to yield."""

    def __init__(self) -> None:
        self.streamed = 0
        self.done = False
        self._odd = b""

    def apply(self, event: SynthesisEvent) -> bytes:
        """PCM to yield now (maybe empty); raises ``SpeechError`` when the request failed."""
        if self.done:
            return b""
        if event.kind == "canceled":
            self.done = True
            raise synthesis_error(event)
        if event.kind == "audio":
            data = event.audio
        else:
            # The final result holds all the audio: send what the pieces missed, if anything.
            data = event.audio[self.streamed :]
            self.done = True
        self.streamed += len(data)
        data = self._odd + data
        # Keep samples whole across pieces; a lone byte at the very end is dropped.
        cut = len(data) - len(data) % 2
        self._odd = b"" if self.done else data[cut:]
        return data[:cut]


def _audio_event(evt: Any) -> SynthesisEvent:
    return SynthesisEvent(kind="audio", audio=bytes(evt.result.audio_data))


def _completed_event(evt: Any) -> SynthesisEvent:
    return SynthesisEvent(kind="completed", audio=bytes(evt.result.audio_data))


def _canceled_event(evt: Any) -> SynthesisEvent:
    details = evt.result.cancellation_details
    return SynthesisEvent(
        kind="canceled",
        cancel_reason=str(details.reason.name),
        error_code=str(details.error_code.name),
        error_details=str(details.error_details or ""),
    )


class _SdkSynthesis:
    """One SDK synthesizer without audio output: the audio comes only through events."""

    def __init__(self, config: Any, deliver: Callable[[SynthesisEvent], None]) -> None:
        sdk = load_sdk()
        synthesizer = sdk.SpeechSynthesizer(speech_config=config, audio_config=None)
        # The callbacks reach only ``deliver``, never this object (no reference cycle).
        synthesizer.synthesizing.connect(sdk_callback(_audio_event, deliver))
        synthesizer.synthesis_completed.connect(sdk_callback(_completed_event, deliver))
        synthesizer.synthesis_canceled.connect(sdk_callback(_canceled_event, deliver))
        self._held: list[Any] = [synthesizer]

    def speak(self, ssml: str) -> None:
        """Queue one request; its events follow."""
        if self._held:
            self._held.append(self._held[0].speak_ssml_async(ssml))

    def close(self, *, stop: bool) -> None:
        """Free the SDK objects in the background; ``stop`` first cuts the speech short."""
        if not self._held:
            return
        held, self._held = self._held, []

        def halt() -> None:
            synthesizer, *futures = held
            if stop:
                synthesizer.stop_speaking_async().get()
            for future in futures:  # resolves at once once stopped or done; frees the handle
                future.get()
            synthesizer.synthesizing.disconnect_all()
            synthesizer.synthesis_completed.disconnect_all()
            synthesizer.synthesis_canceled.disconnect_all()

        release_later(held, stop=halt)

    def __del__(self) -> None:
        if getattr(self, "_held", None):
            self.close(stop=True)


class AzureTts:
    """``TextToSpeech`` with Azure neural voices, as raw PCM16 at 16 or 24 kHz.

    One synthesizer per ``synthesize`` call (a bot sentence), reused for its 400-character
    chunks: a synthesizer runs one request at a time, so calls never wait for each other, at
    the cost of one connection set-up per sentence.
    """

    expressive = True

    def __init__(
        self,
        key: str,
        region: str | None = None,
        *,
        endpoint: str | None = None,
        sample_rate: int = 16000,
        default_voice: str = DEFAULT_VOICE,
        custom_voice_endpoint_id: str | None = None,
        voice_endpoints: Mapping[str, str] | None = None,
        chunk_timeout_s: float = 10.0,
    ) -> None:
        """``custom_voice_endpoint_id`` is the deployment of ``default_voice`` when that is a
        custom voice; ``voice_endpoints`` the deployment of each other custom voice, by voice
        name (a language's own custom voice). ``chunk_timeout_s`` bounds the wait for each
        piece of audio, the first included (the SDK itself waits 80 s for a silent server)."""
        if sample_rate not in _FORMATS:
            raise ValueError(f"sample_rate must be one of {sorted(_FORMATS)}")
        self._account = SpeechAccount(key, region, endpoint)
        self.sample_rate = sample_rate
        self.default_voice = default_voice
        self._custom_voice_endpoint_id = custom_voice_endpoint_id
        self._voice_endpoints = dict(voice_endpoints or {})
        self._chunk_timeout_s = chunk_timeout_s
        self._format = getattr(load_sdk().SpeechSynthesisOutputFormat, _FORMATS[sample_rate])

    async def synthesize(
        self,
        text: str,
        *,
        voice: str | None = None,
        rate: float = 1.0,
        lang: str | None = None,
        style: str = "none",
        custom_voice_endpoint_id: str | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """Yield PCM16LE mono chunks as they arrive; ``SpeechError`` if the service fails.

        ``lang`` defaults to the voice's own locale; ``style`` is an Azure speaking style
        ("cheerful", "sad"). A custom voice is reached through its deployment: the one given,
        else the one configured for the voice. Stopping the iteration early stops the synthesis.
        """
        pieces = chunk_text(clean_text(text))
        if not pieces:
            return
        voice = voice or self.default_voice
        if custom_voice_endpoint_id is None:
            custom_voice_endpoint_id = self._voice_endpoints.get(voice)
        if custom_voice_endpoint_id is None and voice == self.default_voice:
            custom_voice_endpoint_id = self._custom_voice_endpoint_id
        events: asyncio.Queue[SynthesisEvent] = asyncio.Queue()
        with sdk_errors("synthesis"):
            config = self._account.config()
            config.set_speech_synthesis_output_format(self._format)
            if custom_voice_endpoint_id:
                config.endpoint_id = custom_voice_endpoint_id
            synthesis = _SdkSynthesis(
                config, post_to_loop(asyncio.get_running_loop(), events.put_nowait)
            )
        stop = True
        try:
            for piece in pieces:
                ssml = build_ssml(
                    piece,
                    voice=voice,
                    lang=lang or voice_locale(voice),
                    rate=rate,
                    style=style,
                    custom_voice_endpoint_id=custom_voice_endpoint_id,
                )
                with sdk_errors("synthesis"):
                    synthesis.speak(ssml)
                state = SynthesisState()
                while not state.done:
                    pcm = state.apply(await self._next(events))
                    if pcm:
                        yield pcm
            stop = False
        finally:
            # Early exit (barge-in, error, timeout): the service stops speaking at once.
            synthesis.close(stop=stop)

    async def _next(self, events: asyncio.Queue[SynthesisEvent]) -> SynthesisEvent:
        try:
            return await asyncio.wait_for(events.get(), self._chunk_timeout_s)
        except TimeoutError:
            raise SpeechError(
                f"no audio from Azure speech synthesis within {self._chunk_timeout_s:g} s",
                code="Timeout",
            ) from None
