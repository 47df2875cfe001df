"""The gateway's composition from settings: local engines by default, Azure when configured."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from core.settings import Settings
from media_gateway.phrase_cache import CachedTts
from media_gateway.wiring import build_speech
from providers.speech.azure_stt import AzureStt
from providers.speech.azure_tts import AzureTts
from providers.speech.piper_tts import PiperTts
from providers.speech.whisper_stt import WhisperStt


async def test_local_engines_by_default(redis: Redis) -> None:
    speech = build_speech(Settings(), redis)
    assert isinstance(speech.engines.stt, WhisperStt)
    # Behind the phrase cache: the greeting and prompts are replayed from memory.
    assert isinstance(speech.engines.tts, CachedTts)
    assert isinstance(speech.engines.tts.engine, PiperTts)
    assert speech.engines.vad().sample_rate == 16_000


async def test_azure_engines_with_voices_per_language(redis: Redis) -> None:
    settings = Settings(
        speech={"kind": "azure", "azure": {"key": "k", "region": "westeurope"}},
    )
    speech = build_speech(settings, redis)
    assert isinstance(speech.engines.stt, AzureStt)
    assert isinstance(speech.engines.tts, CachedTts)
    assert isinstance(speech.engines.tts.engine, AzureTts)
    assert speech.engines.voices["fr-FR"] == "fr-FR-VivienneMultilingualNeural"


def test_azure_speech_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="speech.azure is not set"):
        Settings(speech={"kind": "azure"})
    with pytest.raises(ValidationError, match="exactly one of region and endpoint"):
        Settings(speech={"kind": "azure", "azure": {"key": "k"}})
