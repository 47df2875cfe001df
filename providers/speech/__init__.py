"""Speech engines: VAD, speech-to-text and text-to-speech behind small protocols.

Only the interfaces are imported here; import an engine from its module
(``providers.speech.whisper_stt``, ``.piper_tts``, ``.local_vad``), which loads its runtime.
"""

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
    "ExpressiveTextToSpeech",
    "SpeechStream",
    "SpeechToText",
    "StreamingSpeechToText",
    "TextToSpeech",
    "Transcript",
    "Vad",
    "speaks_styles",
]
