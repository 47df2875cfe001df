"""A sentence's style and language reach the speech engine: from the call's sentence stream
(real Redis) through the gateway's speaker and phrase cache to the real Azure Speech SDK,
which sends its SSML to a local text-to-speech service. Each language speaks with its own
voice, a custom one through its own deployment."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from core.settings import Settings
from domain.call import CallInitiate, CallState, Style
from domain.contracts import SentenceEvent
from media_gateway.control import view_of
from media_gateway.pacing import Pacer
from media_gateway.phrase_cache import CachedTts
from media_gateway.session import gateway_phrase
from media_gateway.speaking import Speaker
from media_gateway.wiring import azure_engines
from providers.sentences.redis_stream import RedisSentenceStream
from tests.media_gateway.fakes import ToneTts
from tests.speech.azure_tts_server import AzureTtsServer
from tests.speech.test_azure_speech import NS, needs_sdk, parse


def _settings(endpoint: str) -> Settings:
    return Settings(
        speech={"kind": "azure", "azure": {"key": "k", "endpoint": endpoint}},
        conversation={
            "lang": {
                "default_short_code": "en-US",
                "availables": [
                    {"short_code": "en-US", "voice": "en-US-AvaMultilingualNeural"},
                    {
                        "short_code": "fr-FR",
                        "voice": "ContosoFrNeural",
                        "custom_voice_endpoint_id": "dep-fr",
                    },
                ],
            }
        },
    )


async def _speak(
    redis: Redis, tts: CachedTts, voices: dict[str, str], *events: SentenceEvent
) -> int:
    sent: list[str] = []

    async def send(message: str) -> None:
        sent.append(message)

    call_id = f"styles-{id(events)}"
    stream = RedisSentenceStream(redis)
    speaker = Speaker(
        call_id, stream, tts, call_rate=16000, send=send, pacer=Pacer(), after="0-0", voices=voices
    )
    speaker.start()
    try:
        for event in events:
            await stream.append(call_id, event)
        async with asyncio.timeout(15):
            while len(sent) < len(events) or speaker.active:
                await asyncio.sleep(0.02)
    finally:
        await speaker.close()
    return len(sent)


@needs_sdk
@pytest.mark.timeout(60)
async def test_style_and_language_voice_reach_azure(redis: Redis) -> None:
    async with AzureTtsServer() as service:
        engines = azure_engines(_settings(service.endpoint))
        tts = CachedTts(engines.tts)
        sent = await _speak(
            redis,
            tts,
            dict(engines.voices),
            SentenceEvent(
                turn_id=1, kind="sentence", text="Bien sûr !", style=Style.CHEERFUL, lang="fr-FR"
            ),
            SentenceEvent(turn_id=1, index=1, kind="sentence", text="I'm sorry.", style=Style.SAD),
            SentenceEvent(turn_id=1, index=2, kind="sentence", text="Bien sûr !", lang="fr-FR"),
        )
        assert sent > 0
        french, english, neutral = service.requests
    voice = parse(french.ssml).find("s:voice", NS)
    assert voice is not None and voice.get("name") == "ContosoFrNeural"
    express = parse(french.ssml).find(".//mstts:express-as", NS)
    assert express is not None and express.get("style") == "cheerful"
    assert french.path_qs.endswith("deploymentId=dep-fr")  # the language's custom voice
    voice = parse(english.ssml).find("s:voice", NS)
    assert voice is not None and voice.get("name") == "en-US-AvaMultilingualNeural"
    express = parse(english.ssml).find(".//mstts:express-as", NS)
    assert express is not None and express.get("style") == "sad"
    assert "deploymentId" not in english.path_qs
    # The same words in another style are other audio: synthesised again, not replayed.
    assert parse(neutral.ssml).find(".//mstts:express-as", NS) is None


async def test_an_engine_without_styles_is_not_given_one(redis: Redis) -> None:
    # Piper and the test tone engine take no style: the sentence still plays, and the cache
    # keys it as neutral (one entry for both).
    tts = CachedTts(ToneTts())
    assert not tts.expressive
    await _speak(
        redis,
        tts,
        {},
        SentenceEvent(turn_id=1, kind="sentence", text="Of course.", style=Style.CHEERFUL),
        SentenceEvent(turn_id=1, index=1, kind="sentence", text="Of course."),
    )
    assert tts.hits == 1


def test_the_gateways_own_phrases_follow_the_calls_language_and_wording() -> None:
    call = CallState(
        call_id="c1",
        created_at=datetime(2026, 11, 25, tzinfo=UTC),
        lang_short_code="de-DE",
        initiate=CallInitiate.model_validate(
            {
                "phone_number": "+33612345678",
                "bot_company": "Contoso",
                "bot_name": "Zoé",
                "agent_phone_number": "+33612345679",
                "lang": {
                    "default_short_code": "en-US",
                    "availables": [
                        {"short_code": "en-US", "voice": "en-US-AvaMultilingualNeural"},
                        {"short_code": "de-DE", "voice": "de-DE-SeraphinaMultilingualNeural"},
                    ],
                },
                "phrases": {"de": {"hold": "Einen Augenblick, {bot_name} ist gleich da."}},
            }
        ),
    )
    view = view_of(call)
    assert gateway_phrase("hold", view.lang, view) == "Einen Augenblick, Zoé ist gleich da."
    assert gateway_phrase("error", view.lang, view).startswith("Entschuldigung, ich hatte")
    assert gateway_phrase("hold", "nl-NL") == "Een ogenblik, alstublieft."
