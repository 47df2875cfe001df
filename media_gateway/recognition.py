"""Live recognition: a streaming recogniser hears each utterance while the caller speaks.

With an engine that streams (Azure Speech), every frame the VAD puts in an utterance, pre-roll
first, is pushed to that utterance's `SpeechStream` as it comes. The transcript is then mostly
done when the silence timeout ends the turn (`final` only waits for the last words), and the
partial texts let a barge-in be confirmed before the caller has finished. A stream that fails
is dropped for the rest of its utterance, which is then transcribed whole, as without one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from media_gateway.engines import Resampler, SpeechStream, StreamingSpeechToText

log = logging.getLogger(__name__)


class LiveRecognizer:
    """One `SpeechStream` per utterance, fed from the turn detector's `on_frame`."""

    def __init__(
        self,
        engine: StreamingSpeechToText,
        vad_rate: int,
        language: Callable[[], str],
        *,
        call_id: str = "",
    ) -> None:
        self.engine = engine
        self.call_id = call_id
        self._language = language
        self._resampler = Resampler(vad_rate, engine.sample_rate)
        self._stream: SpeechStream | None = None
        self._broken = False  # this utterance's stream failed

    @property
    def current(self) -> SpeechStream | None:
        """The stream of the utterance being heard, if it is open and healthy."""
        return self._stream

    def frame(self, pcm: bytes) -> None:
        """One frame of the current utterance (PCM16 at the VAD's rate)."""
        if self._broken:
            return
        try:
            if self._stream is None:
                self._stream = self.engine.stream(self._language())
            self._stream.push(self._resampler.process(pcm))
        except Exception as exc:  # the service may be down: the utterance is transcribed whole
            log.warning("call %s: live recognition failed: %s", self.call_id, exc)
            self._broken = True
            stream, self._stream = self._stream, None
            if stream is not None:
                stream.close()

    def take(self) -> SpeechStream | None:
        """The utterance ended: its stream (None when it failed); the next one starts afresh."""
        stream, self._stream, self._broken = self._stream, None, False
        self._resampler.reset()
        return stream

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
