"""Speech engine interfaces: voice activity detection, speech-to-text and text-to-speech.

Audio is always raw PCM16LE mono at the engine's ``sample_rate``; callers resample with
``providers.speech.audio.resample``. Engines are CPU-bound and run their work off the event
loop themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Transcript:
    """What the caller said in one utterance."""

    text: str
    language: str
    duration_s: float
    confidence: float | None = None


@runtime_checkable
class Vad(Protocol):
    """Streaming voice activity detector; one instance per call (it keeps state)."""

    sample_rate: int
    frame_samples: int

    def probability(self, frame: bytes) -> float:
        """Speech probability (0..1) of one frame of exactly ``frame_samples`` samples."""
        ...

    def reset(self) -> None:
        """Forget the stream so far (new call or new turn)."""
        ...


@runtime_checkable
class SpeechToText(Protocol):
    """Transcribes one whole utterance (already cut by the VAD)."""

    sample_rate: int

    async def transcribe(self, pcm: bytes, *, language: str) -> Transcript:
        """Transcribe ``pcm``; ``language`` is a tag such as "en-US" or "fr-FR"."""
        ...


@runtime_checkable
class SpeechStream(Protocol):
    """Live recognition of one utterance: audio in as it is heard, partial texts out."""

    def push(self, pcm: bytes) -> None:
        """Append PCM16LE mono at the engine's ``sample_rate``; raises if recognition failed."""
        ...

    def partials(self) -> AsyncIterator[str]:
        """All words recognised so far, each time they change; ends with the stream."""
        ...

    async def final(self) -> Transcript:
        """No more audio: the whole transcript (raises if the recognition failed)."""
        ...

    def close(self) -> None:
        """Stop at once, no transcript (hang-up, shutdown)."""
        ...


@runtime_checkable
class StreamingSpeechToText(SpeechToText, Protocol):
    """A recogniser that also listens while the caller speaks (partials, early final)."""

    def stream(self, language: str) -> SpeechStream:
        """Start recognising an utterance in ``language`` ("fr-FR"), from the event loop."""
        ...


@runtime_checkable
class TextToSpeech(Protocol):
    """Speaks text as a stream of PCM chunks, the first one as early as possible."""

    sample_rate: int

    def synthesize(
        self, text: str, *, voice: str | None = None, rate: float = 1.0
    ) -> AsyncIterator[bytes]:
        """Yield PCM16LE mono chunks; ``rate`` is the speaking speed (1.0 normal)."""
        ...


@runtime_checkable
class ExpressiveTextToSpeech(TextToSpeech, Protocol):
    """A TTS that also takes each sentence's language and speaking style (Azure's
    ``mstts:express-as``). An engine without styles is a plain ``TextToSpeech``: the sentence's
    style is not passed to it."""

    expressive: bool  # False on a wrapper whose engine has no styles

    def synthesize(
        self,
        text: str,
        *,
        voice: str | None = None,
        rate: float = 1.0,
        lang: str | None = None,
        style: str = "none",
    ) -> AsyncIterator[bytes]:
        """As ``TextToSpeech.synthesize``; ``lang`` ("fr-FR") is what a multilingual voice
        speaks, ``style`` ("cheerful", "sad", "none") how."""
        ...


def speaks_styles(tts: TextToSpeech) -> bool:
    return isinstance(tts, ExpressiveTextToSpeech) and tts.expressive
