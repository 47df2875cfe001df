"""The real speech engines of the spoken tests: Silero VAD, Whisper (base) and Piper.

The models are assembled from registry packages (`providers.speech.models`). Loading them takes
seconds, so each test module builds them once, in a module-scoped `engines` fixture:

    @pytest.fixture(scope="module")
    def engines() -> Engines:
        return real_engines()
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache

from core.settings import Settings
from media_gateway.engines import Engines, resample
from media_gateway.phrase_cache import CachedTts
from media_gateway.wiring import local_engines
from providers.speech.models import piper_voice
from providers.speech.piper_tts import PiperTts


def real_engines(*, cached: bool = False) -> Engines:
    """Silero VAD, Whisper and Piper as the gateway builds them on the default settings.

    `cached`: Piper behind a `CachedTts`, as the gateway runs it; the caller's words that a test
    synthesises with `engines.tts` are then cached too.
    """
    engines = local_engines(Settings())
    return replace(engines, tts=CachedTts(engines.tts)) if cached else engines


@cache
def _caller_tts() -> PiperTts:
    # Piper samples noise on every rendering; without it the same text is the same audio on
    # every run, so what Whisper hears of the caller (and a test's assertion) is reproducible.
    return PiperTts(*piper_voice(), noise_scale=0.0, noise_w_scale=0.0)


async def caller_says(text: str, rate: int, *, speed: float = 1.0) -> bytes:
    """`text` spoken by the test's caller (Piper, rendered the same every run), at `rate`."""
    tts = _caller_tts()
    pcm = b"".join([chunk async for chunk in tts.synthesize(text, rate=speed)])
    return resample(pcm, tts.sample_rate, rate)
