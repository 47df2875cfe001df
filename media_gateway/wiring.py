"""The gateway's composition: settings → speech engines, Redis, flags → `Speech`."""

from __future__ import annotations

from redis.asyncio import Redis

from core.settings import Settings
from media_gateway.app import Speech
from media_gateway.engines import Engines
from providers.flags.redis_flags import RedisFlags


def local_engines(settings: Settings) -> Engines:
    """Silero VAD, Whisper and Piper, with models assembled from registry packages."""
    from providers.speech.local_vad import silero_factory
    from providers.speech.models import piper_voice, silero_vad_path, whisper_base_dir
    from providers.speech.piper_tts import PiperTts
    from providers.speech.whisper_stt import WhisperStt

    return Engines(
        vad=silero_factory(silero_vad_path()),
        stt=WhisperStt(whisper_base_dir(), cpu_threads=settings.speech.stt_threads),
        tts=PiperTts(*piper_voice()),
        voices=settings.speech.voices,
    )


def build_speech(settings: Settings, redis: Redis, engines: Engines | None = None) -> Speech:
    flags = RedisFlags(redis, key=settings.flags.redis_key, ttl_sec=settings.flags.cache_ttl_sec)
    return Speech(engines=engines or local_engines(settings), redis=redis, flags=flags.get)
