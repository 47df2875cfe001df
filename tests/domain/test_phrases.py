"""Static phrases in every shipped language, the language menu, and checked overrides
(settings parsed from a real YAML file)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import Settings
from domain.call import CallInitiate, CallState
from domain.phrases import PHRASE_KEYS, PLACEHOLDERS, SHIPPED, menu_sentence, missing_languages
from domain.prompt_templates import PROMPT_PLACEHOLDERS, PROMPT_TEMPLATES
from domain.prompts import build_chat, language_menu, phrase
from domain.templating import TemplateError, check_template, placeholders

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
LANGS = ["en-US", "fr-FR", "es-ES", "de-DE", "it-IT", "pt-PT", "nl-NL"]


def call(lang: str = "en-US", **initiate: object) -> CallState:
    availables = [{"short_code": code, "voice": f"{code}-TestNeural"} for code in LANGS]
    return CallState(
        call_id="c1",
        created_at=NOW,
        lang_short_code=lang,
        initiate=CallInitiate.model_validate(
            {
                "phone_number": "+33612345678",
                "bot_company": "Contoso",
                "bot_name": "Zoé",
                "agent_phone_number": "+33612345679",
                "lang": {"default_short_code": "en-US", "availables": availables},
                **initiate,
            }
        ),
    )


def test_every_shipped_language_has_every_phrase_with_the_same_placeholders() -> None:
    assert {"en", "fr", "es", "de", "it", "pt", "nl"} <= set(SHIPPED)
    for lang, table in SHIPPED.items():
        assert set(table) == set(PHRASE_KEYS), lang
        for key, text in table.items():
            check_template(f"{lang}.{key}", text, PLACEHOLDERS[key])
            assert sorted(placeholders(text)) == sorted(placeholders(SHIPPED["en"][key])), (
                lang,
                key,
            )
    # The keys the workflow, the LLM activity and the gateway speak.
    for key in ("hello", "goodbye", "error", "timeout_loading", "hold", "media_lost"):
        assert key in PHRASE_KEYS
    assert "connect_agent" in PHRASE_KEYS and "calltransfer_failure" in PHRASE_KEYS


@pytest.mark.parametrize(
    ("lang", "hello"),
    [
        ("en-US", "Hello, I'm Zoé from Contoso."),
        ("fr-FR", "Bonjour, je suis Zoé de Contoso."),
        ("es-ES", "Hola, soy Zoé de Contoso."),
        ("de-DE", "Guten Tag, ich bin Zoé von Contoso."),
        ("it-IT", "Buongiorno, sono Zoé di Contoso."),
        ("pt-PT", "Olá, sou Zoé, da Contoso."),
        ("nl-NL", "Hallo, ik ben Zoé van Contoso."),
    ],
)
def test_each_language_is_spoken_in_its_own_words(lang: str, hello: str) -> None:
    state = call(lang)
    assert phrase("hello", state).startswith(hello)
    # No phrase of another language falls through to English.
    if lang != "en-US":
        for key in PHRASE_KEYS:
            if key != "ivr_language":
                assert phrase(key, state) != phrase(key, call("en-US")), (lang, key)


def test_language_menu_says_the_digit_each_language_listens_for() -> None:
    state = call()
    assert language_menu(state, ["de-DE", "en-US", "fr-FR"]) == (
        "Für Deutsch drücken Sie die 1. For English, press 2. Pour le français, tapez 3."
    )
    menu = language_menu(state, LANGS)
    for digit, code in enumerate(LANGS, start=1):
        entry = SHIPPED[code[:2]]["ivr_language"].format(digit=digit)
        assert entry in menu


def test_overrides_win_per_language_then_per_variant() -> None:
    phrases = {
        "fr": {"hello": "Allô, ici {bot_name}.", "ivr_language": "Français : touche {digit}."},
        "fr-CA": {"hello": "Bonjour-hi, ici {bot_name} de {bot_company}."},
    }
    state = call("fr-FR", phrases=phrases)
    assert phrase("hello", state) == "Allô, ici Zoé."
    assert phrase("goodbye", state).startswith("Merci d'avoir appelé Contoso")  # shipped
    assert language_menu(state, ["en-US", "fr-FR"]) == "For English, press 1. Français : touche 2."
    assert menu_sentence(["fr-CA"], phrases, bot_name="Zoé", bot_company="C") == (
        "Français : touche 1."
    )
    assert (
        phrase("hello", call("fr-FR", phrases={"fr-FR": {"hello": "Oui ?"}}))
        == "Oui ?"  # exact code beats the primary language and the table
    )


def test_a_language_without_table_speaks_english_and_is_reported() -> None:
    assert missing_languages(["en-US", "ja-JP", "pl-PL"], {}) == ["ja-JP", "pl-PL"]
    full = dict.fromkeys(PHRASE_KEYS, "…")
    assert missing_languages(["ja-JP"], {"ja": full}) == []
    assert missing_languages(["ja-JP"], {"ja": {"hello": "こんにちは"}}) == ["ja-JP"]
    japanese = call().model_copy(update={"lang_short_code": "ja-JP"})
    assert phrase("hello", japanese).startswith("Hello, I'm Zoé")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Hi {bot_nme}", "unknown placeholder {bot_nme}"),
        ("Hi {bot_name!r}", "bare name"),
        ("Hi {bot_name:>10}", "bare name"),
        ("Hi {0}", "bare name"),
        ("Hi {}", "bare name"),
        ("Hi {bot_name", "malformed"),
        ("Hi }", "malformed"),
    ],
)
def test_bad_templates_name_the_phrase_and_placeholder(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        check_template("phrases.en.hello", text, PLACEHOLDERS["hello"])
    assert str(caught.value).startswith("phrases.en.hello: ")
    assert message in str(caught.value)


def test_builtin_prompts_use_only_what_their_builder_fills() -> None:
    for name, text in PROMPT_TEMPLATES.items():
        assert set(placeholders(text)) <= PROMPT_PLACEHOLDERS[name], name


def test_prompt_overrides_reach_both_profiles() -> None:
    prompts = {
        "system": "I am {bot_name} ({task}).",
        "chat": "Task: {task} Claim: {claim}. Literal {{braces}}.",
        "small": "Small {bot_name}: {task}. Saved: {saved}.{next}",
    }
    state = call(task="Fix a router.", prompts=prompts)
    full = build_chat(state, NOW)
    assert full[0]["content"] == "I am Zoé (Fix a router.)."
    assert full[1]["content"].startswith('Task: Fix a router. Claim: {"incident')
    assert full[1]["content"].endswith("Literal {braces}.")
    small = build_chat(state, NOW, profile="small")
    assert small[0]["content"] == "Small Zoé: Fix a router.. Saved: nothing yet."


def _settings_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, yaml: str) -> Settings:
    path = tmp_path / "config.yaml"
    path.write_text(yaml, encoding="utf-8")
    monkeypatch.setenv("CALLCENTER_CONFIG", str(path))
    return Settings()


def test_settings_phrases_and_prompts_are_checked_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = _settings_from(
        tmp_path,
        monkeypatch,
        "conversation:\n"
        "  phrases:\n"
        "    es:\n"
        "      hello: 'Buenas, le atiende {bot_name}.'\n"
        "  prompts:\n"
        "    small: 'You are {bot_name}. {task} {saved}{next}'\n",
    )
    assert good.conversation.phrases == {"es": {"hello": "Buenas, le atiende {bot_name}."}}
    with pytest.raises(ValidationError) as caught:
        _settings_from(
            tmp_path,
            monkeypatch,
            "conversation:\n  phrases:\n    de:\n      goodbye: 'Tschüss von {company}!'\n",
        )
    assert "phrases.de.goodbye: unknown placeholder {company}" in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        _settings_from(
            tmp_path, monkeypatch, "conversation:\n  prompts:\n    chat: 'Help {customer}.'\n"
        )
    assert "prompts.chat: unknown placeholder {customer}" in str(caught.value)


def test_settings_warn_about_languages_without_phrases(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="core.settings"):
        _settings_from(
            tmp_path,
            monkeypatch,
            "conversation:\n"
            "  lang:\n"
            "    availables:\n"
            "      - {short_code: en-US, voice: en-US-AvaMultilingualNeural}\n"
            "      - {short_code: pl-PL, voice: pl-PL-AgnieszkaNeural}\n",
        )
    assert "no phrase table for pl-PL" in caplog.text
