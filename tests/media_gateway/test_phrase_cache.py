"""The phrase cache: static sentences are synthesised once, then replayed from memory."""

from __future__ import annotations

from redis.asyncio import Redis

from core.settings import Settings
from media_gateway.engines import Engines
from media_gateway.phrase_cache import CachedTts
from media_gateway.wiring import build_speech, static_phrases, warm_phrases
from tests.media_gateway.fakes import EnergyVad, ScriptedStt, ToneTts


async def collect(tts: CachedTts, text: str, rate: float = 1.0) -> bytes:
    return b"".join([chunk async for chunk in tts.synthesize(text, rate=rate)])


async def test_a_sentence_is_synthesised_once_and_replayed_identically() -> None:
    tts = CachedTts(ToneTts())
    first = await collect(tts, "Are you still there?")
    again = await collect(tts, "Are you still there?")
    assert first == again and tts.hits == 1
    assert await collect(tts, "Are you still there?", rate=1.2) != first  # rate is in the key
    assert tts.hits == 1


async def test_the_greeting_is_ready_before_the_first_call_and_the_cache_is_bounded() -> None:
    settings = Settings()
    tts = CachedTts(ToneTts(), max_entries=50)
    phrases = static_phrases(settings)
    assert "Hello, I'm Amélie from Contoso. How can I help you today?" in phrases
    assert await tts.warm(phrases) == len(phrases)
    await collect(tts, "Hello, I'm Amélie from Contoso. How can I help you today?")
    assert tts.hits == 1
    for i in range(60):
        await collect(tts, f"sentence {i}")
    assert len(tts._audio) == 50  # least recently used entries went first


async def test_the_gateways_tts_is_cached_and_warmed_from_the_settings(redis: Redis) -> None:
    settings = Settings()
    engines = Engines(vad=EnergyVad, stt=ScriptedStt([]), tts=ToneTts())
    speech = build_speech(settings, redis, engines)
    tts = speech.engines.tts
    assert isinstance(tts, CachedTts)
    assert await warm_phrases(speech, settings) == len(static_phrases(settings))
    await collect(tts, "Hello, I'm Amélie from Contoso. How can I help you today?")
    assert tts.hits == 1  # the greeting needed no synthesis
