"""A configured language with no phrase table: the model translates the phrases once, the
translation is checked and cached in Redis, and the call speaks them. Real API, worker,
Temporal, Redis and the scripted OpenAI-compatible server standing in for the model."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from redis.asyncio import Redis

from core.settings import LlmModelSettings, Settings
from domain.call import CallInitiate
from domain.phrases import PHRASE_KEYS, SHIPPED
from media_gateway.engines import Engines
from media_gateway.phrase_cache import CachedTts
from media_gateway.wiring import build_speech, warm_phrases
from providers.llm.phrase_translation import PhraseTranslator, cache_key, parse_table
from scripted_llm.runner import ScriptedLlmServer
from scripted_llm.script import ScriptedReply
from tests.conftest import Stack
from tests.media_gateway.fakes import EnergyVad, ScriptedStt, ToneTts

POLISH = {
    "hello": "Dzień dobry, mówi {bot_name} z firmy {bot_company}. W czym mogę pomóc?",
    "goodbye": "Dziękujemy za telefon do {bot_company}. Miłego dnia, do widzenia!",
    "error": "Przepraszam, wystąpił problem techniczny. Czy mogę prosić o powtórzenie?",
    "timeout_silence": "Halo, czy jest Pan lub Pani jeszcze na linii?",
    "timeout_loading": "Już sprawdzam, proszę chwilę poczekać.",
    "connect_agent": "Łączę z konsultantem, proszę nie odkładać słuchawki.",
    "end_call_to_connect_agent": "Oczywiście, już przekazuję rozmowę konsultantowi.",
    "calltransfer_failure": "Przepraszam, nie udało się połączyć z konsultantem. Kontynuujmy.",
    "ivr_language": "Aby wybrać język polski, naciśnij {digit}.",
    "content_filter": "Przepraszam, nie mogę o tym rozmawiać. W czym jeszcze mogę pomóc?",
    "hold": "Chwileczkę, proszę.",
    "media_lost": "Przepraszam, problem techniczny przerywa rozmowę. Prosimy zadzwonić "
    "ponownie. Do widzenia!",
}


def languages(code: str, voice: str) -> dict[str, object]:
    return {
        "default_short_code": code,
        "availables": [
            {"short_code": code, "voice": voice},
            {"short_code": "en-US", "voice": "en-US-AvaMultilingualNeural"},
        ],
    }


async def test_a_language_without_table_is_translated_once_and_cached(stack: Stack) -> None:
    await stack.redis.delete(cache_key("pl"))
    stack.llm.state.add(
        ScriptedReply(text=json.dumps(POLISH, ensure_ascii=False)), user="phrase-translation:pl"
    )
    polish = languages("pl-PL", "pl-PL-AgnieszkaNeural")
    first = await stack.start_call(lang=polish, phrases={"pl": {"hold": "Moment."}})
    call = (await stack.api.get(f"/call/{first}")).json()["call"]
    # The call's own phrase stays on top of the translation.
    assert call["initiate"]["phrases"]["pl"] == {**POLISH, "hold": "Moment."}
    assert call["messages"][1]["content"] == (
        "Dzień dobry, mówi Amélie z firmy Contoso. W czym mogę pomóc?"
    )
    (request,) = stack.llm.state.requests(user="phrase-translation:pl")
    assert json.loads(request.messages[1]["content"]) == SHIPPED["en"]
    assert "pl-PL" in request.messages[0]["content"]

    # The next call in Polish needs no model: the table comes from Redis.
    second = await stack.start_call(lang=polish)
    call = (await stack.api.get(f"/call/{second}")).json()["call"]
    assert call["initiate"]["phrases"]["pl"] == POLISH
    assert len(stack.llm.state.requests(user="phrase-translation:pl")) == 1


async def test_a_bad_translation_falls_back_to_english_and_is_not_cached(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    await stack.redis.delete(cache_key("sv"))
    lost = dict.fromkeys(PHRASE_KEYS, "Hej!")  # every placeholder dropped
    stack.llm.state.add(ScriptedReply(text=json.dumps(lost)), user="phrase-translation:sv")
    with caplog.at_level(logging.WARNING, logger="providers.llm.phrase_translation"):
        call_id = await stack.start_call(lang=languages("sv-SE", "sv-SE-SofieNeural"))
    assert "no phrase translation for sv-SE" in caplog.text
    assert "phrases.sv.hello: placeholders changed" in caplog.text
    call = (await stack.api.get(f"/call/{call_id}")).json()["call"]
    assert "sv" not in call["initiate"]["phrases"]
    assert call["messages"][1]["content"].startswith("Hello, I'm Amélie from Contoso")
    assert await stack.redis.get(cache_key("sv")) is None


def test_a_translation_must_keep_keys_and_placeholders() -> None:
    assert parse_table("Here it is: " + json.dumps(POLISH), "pl") == POLISH
    with pytest.raises(ValueError, match="keys differ"):
        parse_table(json.dumps({k: v for k, v in POLISH.items() if k != "hold"}), "pl")
    with pytest.raises(ValueError, match=r"phrases.pl.ivr_language: placeholders changed"):
        parse_table(json.dumps({**POLISH, "ivr_language": "Polski: 1."}), "pl")
    with pytest.raises(ValueError, match="no JSON object"):
        parse_table("Sorry, I cannot translate.", "pl")


async def test_a_ringing_phone_waits_for_no_model(
    redis: Redis, scripted_llm: ScriptedLlmServer
) -> None:
    # An inbound call takes what is cached now; the translation is made for the next call.
    await redis.delete(cache_key("pl"))
    scripted_llm.state.add(
        ScriptedReply(text=json.dumps(POLISH, ensure_ascii=False)), user="phrase-translation:pl"
    )
    model = LlmModelSettings(endpoint=scripted_llm.base_url, model="slow-model", api_key="test")
    translator = PhraseTranslator(redis, model)
    initiate = CallInitiate.model_validate(
        {
            "phone_number": "+33612345678",
            "bot_company": "Contoso",
            "bot_name": "Amélie",
            "agent_phone_number": "+33612345679",
            "lang": languages("pl-PL", "pl-PL-AgnieszkaNeural"),
        }
    )
    assert (await translator.complete(initiate, wait=False)).phrases == {}
    async with asyncio.timeout(10):
        while await redis.get(cache_key("pl")) is None:
            await asyncio.sleep(0.02)
    assert (await translator.complete(initiate, wait=False)).phrases == {"pl": POLISH}


async def test_the_gateway_start_translates_and_warms_a_configured_language(
    redis: Redis, scripted_llm: ScriptedLlmServer
) -> None:
    await redis.delete(cache_key("pl"))
    scripted_llm.state.add(
        ScriptedReply(text=json.dumps(POLISH, ensure_ascii=False)), user="phrase-translation:pl"
    )
    model = {"endpoint": scripted_llm.base_url, "model": "slow-model", "api_key": "test"}
    settings = Settings(
        llm={"slow": model},
        conversation={"lang": languages("pl-PL", "pl-PL-AgnieszkaNeural")},
    )
    speech = build_speech(
        settings, redis, Engines(vad=EnergyVad, stt=ScriptedStt([]), tts=ToneTts())
    )
    assert await warm_phrases(speech, settings) > 0
    assert await redis.get(cache_key("pl")) is not None  # the API's calls will find it
    tts = speech.engines.tts
    assert isinstance(tts, CachedTts)
    hello = "Dzień dobry, mówi Amélie z firmy Contoso. W czym mogę pomóc?"
    async for _ in tts.synthesize(hello):
        pass
    assert tts.hits == 1  # synthesised at start, in Polish
