"""The real speech engines of the spoken tests: Silero VAD, Whisper (base) and Piper.

The models are assembled from registry packages (`providers.speech.models`). Loading them takes
seconds, so each test module builds them once, in a module-scoped `engines` fixture:

    @pytest.fixture(scope="module")
    def engines() -> Engines:
        return real_engines()
"""

from __future__ import annotations

from dataclasses import replace

from core.settings import Settings
from media_gateway.engines import Engines
from media_gateway.phrase_cache import CachedTts
from media_gateway.wiring import local_engines


def real_engines(*, cached: bool = False) -> Engines:
    """Silero VAD, Whisper and Piper as the gateway builds them on the default settings.

    `cached`: Piper behind a `CachedTts`, as the gateway runs it; the caller's words that a test
    synthesises with `engines.tts` are then cached too.
    """
    engines = local_engines(Settings())
    return replace(engines, tts=CachedTts(engines.tts)) if cached else engines
