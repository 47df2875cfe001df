"""The real speech engines of the spoken tests: Silero VAD, Whisper (base) and Piper.

The models are assembled from registry packages (`providers.speech.models`). Loading them takes
seconds, so each test module builds them once, in a module-scoped `engines` fixture:

    @pytest.fixture(scope="module")
    def engines() -> Engines:
        return real_engines()
"""

from __future__ import annotations

from media_gateway.engines import Engines
from media_gateway.phrase_cache import CachedTts
from providers.speech.local_vad import silero_factory
from providers.speech.models import piper_voice, silero_vad_path, whisper_base_dir
from providers.speech.piper_tts import PiperTts
from providers.speech.whisper_stt import WhisperStt


def real_engines(*, cached: bool = False) -> Engines:
    """Silero VAD, Whisper and Piper with their own defaults (voice, STT threads and window).

    `cached`: Piper behind a `CachedTts`, as the gateway runs it; the caller's words that a test
    synthesises with `engines.tts` are then cached too.
    """
    vad = silero_factory(silero_vad_path())
    stt = WhisperStt(whisper_base_dir())
    tts = PiperTts(*piper_voice())
    return Engines(vad=vad, stt=stt, tts=CachedTts(tts) if cached else tts)
