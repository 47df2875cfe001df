"""Static phrases: what the bot says without the model, in every language it is configured for.

One table per language ships with the code (`en`, `fr`, `es`, `de`, `it`, `pt`, `nl`); a
deployment overrides any phrase per language in its settings (`conversation.phrases`), and a
call in `POST /call` (`phrases`). Overrides travel in the call's `CallInitiate`, so the workflow
picks a phrase deterministically from its own input. A language with no table and no override
speaks English (`missing_languages` lets start-up warn about it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

from pydantic import AfterValidator

from domain.phrases import de, en, es, fr, it, nl, pt
from domain.templating import TemplateError, check_template

SHIPPED: dict[str, dict[str, str]] = {
    "en": en.TABLE,
    "fr": fr.TABLE,
    "es": es.TABLE,
    "de": de.TABLE,
    "it": it.TABLE,
    "pt": pt.TABLE,
    "nl": nl.TABLE,
}
PHRASE_KEYS: tuple[str, ...] = tuple(en.TABLE)
CALL_PLACEHOLDERS = frozenset({"bot_name", "bot_company"})
# The language menu's entry also says the key that picks the language.
PLACEHOLDERS: dict[str, frozenset[str]] = {
    key: CALL_PLACEHOLDERS | {"digit"} if key == "ivr_language" else CALL_PLACEHOLDERS
    for key in PHRASE_KEYS
}
MAX_PHRASE_CHARS = 500
MAX_LANGUAGES = 50
# A language key of an override table: "fr" (every French variant) or "fr-CA" (one).
_LANG_KEY_CHARS = 12


def primary(short_code: str) -> str:
    return short_code.split("-")[0].lower()


def check_phrases(tables: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """Validate override tables: known keys, bounded text, only the placeholders each allows."""
    if len(tables) > MAX_LANGUAGES:
        raise TemplateError(f"phrases: at most {MAX_LANGUAGES} languages")
    for lang, table in tables.items():
        if not lang or len(lang) > _LANG_KEY_CHARS or not lang.replace("-", "").isalpha():
            raise TemplateError(f"phrases: {lang!r} is not a language such as 'fr' or 'fr-CA'")
        for key, text in table.items():
            where = f"phrases.{lang}.{key}"
            if key not in PLACEHOLDERS:
                raise TemplateError(f"{where}: unknown phrase (known: {', '.join(PHRASE_KEYS)})")
            if not text.strip() or len(text) > MAX_PHRASE_CHARS:
                raise TemplateError(f"{where}: 1 to {MAX_PHRASE_CHARS} characters")
            check_template(where, text, PLACEHOLDERS[key])
    return tables


# Language → phrase key → template, checked wherever it is parsed (settings, API, workflow).
PhraseOverrides = Annotated[dict[str, dict[str, str]], AfterValidator(check_phrases)]


def template(key: str, short_code: str, overrides: Mapping[str, Mapping[str, str]]) -> str:
    """The template of phrase `key` in `short_code`: the override for that exact language, then
    for its primary language, then the shipped table, then English."""
    lang = primary(short_code)
    for table in (overrides.get(short_code), overrides.get(lang), SHIPPED.get(lang)):
        if table and key in table:
            return table[key]
    return SHIPPED["en"][key]


def render(
    key: str,
    short_code: str,
    overrides: Mapping[str, Mapping[str, str]],
    *,
    bot_name: str,
    bot_company: str,
    digit: int | None = None,
) -> str:
    values = {"bot_name": bot_name, "bot_company": bot_company}
    if digit is not None:
        values["digit"] = str(digit)
    return template(key, short_code, overrides).format(**values)


def menu_entries(
    short_codes: Sequence[str],
    overrides: Mapping[str, Mapping[str, str]],
    *,
    bot_name: str,
    bot_company: str,
) -> list[str]:
    """The language menu: each language in its own words, with the key that picks it (the
    n-th language listens for digit n)."""
    return [
        render("ivr_language", code, overrides, bot_name=bot_name, bot_company=bot_company, digit=i)
        for i, code in enumerate(short_codes, start=1)
    ]


def menu_sentence(
    short_codes: Sequence[str],
    overrides: Mapping[str, Mapping[str, str]],
    *,
    bot_name: str,
    bot_company: str,
) -> str:
    entries = menu_entries(short_codes, overrides, bot_name=bot_name, bot_company=bot_company)
    return " ".join(entries)


def missing_languages(
    short_codes: Sequence[str], overrides: Mapping[str, Mapping[str, str]]
) -> list[str]:
    """Configured languages that would speak some phrase in English (no table, no override)."""
    missing = []
    for code in short_codes:
        lang = primary(code)
        if lang in SHIPPED:
            continue
        given = {**overrides.get(lang, {}), **overrides.get(code, {})}
        if any(key not in given for key in PHRASE_KEYS):
            missing.append(code)
    return missing
