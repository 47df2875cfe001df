"""The phrase cache: static sentences are synthesised once, then replayed from memory."""

from __future__ import annotations

from collections.abc import AsyncIterator

from redis.asyncio import Redis

from core.settings import Settings
from media_gateway.engines import Engines
from media_gateway.phrase_cache import CachedTts
from media_gateway.wiring import build_speech, phrase_heads, static_phrases, warm_phrases
from tests.media_gateway.fakes import EnergyVad, ScriptedStt, ToneTts


class RecordingTts(ToneTts):
    """A tone per word, and the texts it was asked to synthesise."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    async def synthesize(
        self, text: str, *, voice: str | None = None, rate: float = 1.0
    ) -> AsyncIterator[bytes]:
        self.texts.append(text)
        async for chunk in super().synthesize(text, voice=voice, rate=rate):
            yield chunk


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
    warmed = await warm_phrases(speech, settings)
    assert warmed == len(static_phrases(settings)) + len(phrase_heads(settings))
    await collect(tts, "Hello, I'm Amélie from Contoso. How can I help you today?")
    assert tts.hits == 1  # the greeting needed no synthesis


async def test_a_greeting_with_another_bot_name_starts_with_the_cached_hello() -> None:
    engine = RecordingTts()
    tts = CachedTts(engine)
    assert "Hello," in phrase_heads()  # "Hello, I'm {bot_name} ..." opens every English call
    await tts.warm(phrase_heads())
    engine.texts.clear()
    greeting = "Hello, I'm Emily from Fabrikam. How can I help you today?"
    chunks = [chunk async for chunk in tts.synthesize(greeting)]
    # "Hello," came from memory (ready at once); only the rest was synthesised, after it.
    assert engine.texts == ["I'm Emily from Fabrikam. How can I help you today?"]
    hello = [c async for c in tts.synthesize("Hello,")]
    assert chunks[: len(hello)] == hello
    assert tts.head_hits == 1
    whole = b"".join(chunks)
    assert whole == await collect(tts, greeting) and engine.texts == [engine.texts[0]]


async def test_a_clause_is_only_a_head_at_a_clause_boundary() -> None:
    engine = RecordingTts()
    tts = CachedTts(engine)
    await tts.warm(["Hello,", "Of course."])
    engine.texts.clear()
    await collect(tts, "Hello,world is not a clause.")  # no space after the comma
    await collect(tts, "Of course")  # the cached text is not a head of itself minus a dot
    assert engine.texts == ["Hello,world is not a clause.", "Of course"]
    assert tts.head_hits == 0
