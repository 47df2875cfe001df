"""The gateway's composition: settings → speech engines, Redis, flags → `Speech`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from redis.asyncio import Redis

from core.settings import Settings
from domain.phrases import PHRASE_KEYS, SHIPPED, render, template
from media_gateway.app import Speech
from media_gateway.engines import Engines
from media_gateway.phrase_cache import CLAUSE_END, CachedTts
from providers.flags.redis_flags import RedisFlags
from providers.llm.phrase_translation import PhraseTranslator

# Played by ACS, never by the gateway (the menu before media starts; the notice when no
# gateway can be reached): not worth a cache entry.
ACS_ONLY = frozenset({"ivr_language", "media_lost"})
_SPOKEN = [key for key in PHRASE_KEYS if key not in ACS_ONLY]


def local_engines(settings: Settings) -> Engines:
    """Silero VAD, Whisper and Piper, with models assembled from registry packages."""
    from providers.speech.local_vad import silero_factory
    from providers.speech.models import piper_voice, silero_vad_path, whisper_base_dir
    from providers.speech.piper_tts import PiperTts
    from providers.speech.whisper_stt import WhisperStt

    return Engines(
        vad=silero_factory(silero_vad_path()),
        stt=WhisperStt(
            whisper_base_dir(),
            cpu_threads=settings.speech.stt_threads,
            window_s=settings.speech.stt_window_sec,
        ),
        tts=PiperTts(*piper_voice()),
        voices=settings.speech.voices,
    )


def azure_engines(settings: Settings) -> Engines:
    """Azure Speech for STT and TTS; turn-taking still uses the local Silero VAD."""
    from providers.speech.azure_stt import AzureStt
    from providers.speech.azure_tts import AzureTts
    from providers.speech.local_vad import silero_factory
    from providers.speech.models import silero_vad_path

    azure = settings.speech.azure
    assert azure is not None  # checked by SpeechSettings
    key = azure.key.get_secret_value()
    langs = settings.conversation.lang.availables
    voices = {lang.short_code: lang.voice for lang in langs}
    # A language's own custom voice is reached through its own deployment.
    endpoints = {
        lang.voice: lang.custom_voice_endpoint_id for lang in langs if lang.custom_voice_endpoint_id
    }
    return Engines(
        vad=silero_factory(silero_vad_path()),
        stt=AzureStt(key, azure.region, endpoint=azure.endpoint),
        tts=AzureTts(
            key,
            azure.region,
            endpoint=azure.endpoint,
            sample_rate=azure.tts_sample_rate,
            default_voice=azure.default_voice,
            custom_voice_endpoint_id=azure.custom_voice_endpoint_id,
            voice_endpoints=endpoints,
        ),
        voices={**voices, **settings.speech.voices},
    )


def _languages(settings: Settings) -> list[str]:
    return [lang.short_code for lang in settings.conversation.lang.availables]


def _phrases_in(
    settings: Settings, short_code: str, overrides: Mapping[str, Mapping[str, str]] | None = None
) -> list[str]:
    conversation = settings.conversation
    return [
        render(
            key,
            short_code,
            conversation.phrases if overrides is None else overrides,
            bot_name=conversation.bot_name,
            bot_company=conversation.bot_company,
        )
        for key in _SPOKEN
    ]


def static_phrases(settings: Settings) -> list[str]:
    """The fixed sentences of a call (greeting, prompts, goodbye), as the bot will say them in
    each configured language."""
    return [text for code in _languages(settings) for text in _phrases_in(settings, code)]


def _heads(templates: list[str]) -> list[str]:
    heads = set()
    for text in templates:
        fixed, templated, _ = text.partition("{")
        ends = [match.end() for match in CLAUSE_END.finditer(fixed)]
        if templated and ends:
            heads.add(fixed[: ends[-1]])
    return sorted(heads)


def phrase_heads(settings: Settings | None = None) -> list[str]:
    """The fixed clauses that open a phrase whose rest varies per call ("Hello," before the
    bot's name): cached, they play while the rest is synthesised. With `settings`, those of
    its languages (overrides included); without, those of every shipped table."""
    if settings is None:
        return _heads([table[key] for table in SHIPPED.values() for key in _SPOKEN])
    overrides = settings.conversation.phrases
    return _heads(
        [template(key, code, overrides) for code in _languages(settings) for key in _SPOKEN]
    )


def build_speech(settings: Settings, redis: Redis, engines: Engines | None = None) -> Speech:
    """The engines (from the settings unless given), their TTS behind the phrase cache."""
    flags = RedisFlags(redis, key=settings.flags.redis_key, ttl_sec=settings.flags.cache_ttl_sec)
    if engines is None:
        engines = (
            azure_engines(settings) if settings.speech.kind == "azure" else local_engines(settings)
        )
    if not isinstance(engines.tts, CachedTts):
        engines = replace(engines, tts=CachedTts(engines.tts))
    return Speech(engines=engines, redis=redis, flags=flags.get)


async def configured_phrases(
    settings: Settings, redis: Redis, *, translate: bool = True
) -> dict[str, dict[str, str]]:
    """The settings' phrase overrides, with a table for each configured language that ships
    none: from the Redis cache, else (`translate`) from the model, which the API's calls then
    find cached. Without one the language speaks English (a warning is logged)."""
    translator = PhraseTranslator(redis, settings.llm.slow)
    return await translator.tables(
        _languages(settings), settings.conversation.phrases, wait=translate
    )


async def warm_phrases(speech: Speech, settings: Settings) -> int:
    """Synthesise the static phrases (and the fixed heads of the others) of each configured
    language in its voice, before the first call; a language without a table is translated
    first (once: the translation is cached)."""
    tts = speech.engines.tts
    if not isinstance(tts, CachedTts):
        return 0
    overrides = await configured_phrases(settings, speech.redis)
    count = 0
    for code in _languages(settings):
        heads = _heads([template(key, code, overrides) for key in _SPOKEN])
        voice = speech.engines.voices.get(code)
        phrases = _phrases_in(settings, code, overrides)
        count += await tts.warm([*phrases, *heads], [voice], lang=code)
    return count
