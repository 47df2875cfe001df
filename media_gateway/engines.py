"""The speech engines a session uses, and the audio helpers, from `providers.speech`.

One import point: the session codes against the engine protocols only, so the real engines
(Silero VAD, Whisper STT, Piper TTS) and the deterministic test fakes plug in alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from providers.speech.audio import Resampler, resample, rms
from providers.speech.base import (
    ExpressiveTextToSpeech,
    SpeechStream,
    SpeechToText,
    StreamingSpeechToText,
    TextToSpeech,
    Transcript,
    Vad,
    speaks_styles,
)

__all__ = [
    "Engines",
    "ExpressiveTextToSpeech",
    "Resampler",
    "SpeechStream",
    "SpeechToText",
    "StreamingSpeechToText",
    "TextToSpeech",
    "Transcript",
    "Vad",
    "resample",
    "rms",
    "speaks_styles",
]


@dataclass(frozen=True)
class Engines:
    """What a session needs to listen and speak; `vad` builds one detector per call (stateful)."""

    vad: Callable[[], Vad]
    stt: SpeechToText
    tts: TextToSpeech
    # TTS voice per language tag ("fr-FR"); a language not listed uses the engine's default.
    voices: Mapping[str, str] = field(default_factory=dict)
