"""Phrase tables for languages that ship none, translated once by the configured model.

A call in a language without a table (`domain/phrases`) would greet, hold and say goodbye in
English. Before such a call starts, the English table is translated by the model, checked (same
keys, same placeholders, bounded text) and cached in Redis under the English table's digest:
the model is asked once per language and wording, not once per call. The table then travels
in the call's `CallInitiate.phrases`, under any override the deployment or the call gives.
Whatever goes wrong (model down, malformed answer, a placeholder lost) the call still starts,
in English for those phrases, with a warning; nothing bad is cached, so the next call retries.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.settings import LlmModelSettings
from domain.call import CallInitiate
from domain.phrases import PHRASE_KEYS, SHIPPED, check_phrases, missing_languages, primary
from domain.templating import placeholders
from providers.llm.base import ChatModel, LlmError

log = logging.getLogger(__name__)

CACHE_PREFIX = "callcenter:phrases:v1"
MAX_TOKENS = 2_000
SYSTEM = """\
You translate the phrases of a phone assistant from English into the language with the BCP 47 \
tag {tag}. Answer with ONE JSON object only: the same keys, each value translated, polite and \
natural for a phone call, short. Keep every placeholder in braces, such as {{bot_name}} or \
{{digit}}, exactly as it is, untranslated. In "ivr_language", replace "English" with the name \
of the language {tag}, written in that language."""


def source_digest() -> str:
    """Names the English wording a cached translation was made from."""
    text = json.dumps(SHIPPED["en"], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_key(lang: str) -> str:
    return f"{CACHE_PREFIX}:{lang}:{source_digest()}"


def answer_schema() -> dict[str, Any]:
    return {
        "title": "phrases",
        "type": "object",
        "properties": {key: {"type": "string"} for key in PHRASE_KEYS},
        "required": list(PHRASE_KEYS),
        "additionalProperties": False,
    }


def parse_table(text: str, lang: str) -> dict[str, str]:
    """The model's answer as a phrase table; `ValueError` naming what is wrong with it."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the answer")
    table = json.loads(text[start : end + 1])
    if not isinstance(table, dict) or set(table) != set(PHRASE_KEYS):
        raise ValueError(f"keys differ from {', '.join(PHRASE_KEYS)}")
    if not all(isinstance(value, str) for value in table.values()):
        raise ValueError("every value must be a string")
    for key, value in table.items():
        if sorted(placeholders(value)) != sorted(placeholders(SHIPPED["en"][key])):
            raise ValueError(f"phrases.{lang}.{key}: placeholders changed in {value!r}")
    return check_phrases({lang: table})[lang]


async def _ask(model: ChatModel, lang: str, tag: str) -> str:
    messages = [
        {"role": "system", "content": SYSTEM.format(tag=tag)},
        {"role": "user", "content": json.dumps(SHIPPED["en"], ensure_ascii=False)},
    ]
    chunks = model.stream(
        messages,
        None,
        user=f"phrase-translation:{lang}",
        max_tokens=MAX_TOKENS,
        json_schema=answer_schema(),
    )
    return "".join([chunk.text async for chunk in chunks])


# Translations under way in the background (a reference keeps each task alive until done).
_BACKGROUND: set[asyncio.Task[dict[str, str] | None]] = set()


class PhraseTranslator:
    """Translated tables from the Redis cache, else from the model (then cached)."""

    def __init__(self, redis: Redis, settings: LlmModelSettings) -> None:
        self._redis = redis
        self._settings = settings

    async def cached(self, short_code: str) -> dict[str, str] | None:
        lang = primary(short_code)
        try:
            cached = await self._redis.get(cache_key(lang))
            if cached is not None:
                return parse_table(cached.decode() if isinstance(cached, bytes) else cached, lang)
        except (RedisError, ValueError) as exc:
            log.warning("cached phrases for %s unusable (%s): asking the model", lang, exc)
        return None

    async def table(self, short_code: str) -> dict[str, str] | None:
        cached = await self.cached(short_code)
        if cached is not None:
            return cached
        lang = primary(short_code)
        key = cache_key(lang)
        try:
            async with asyncio.timeout(self._settings.request_timeout_sec):
                text = await self._translate(lang, short_code)
            table = parse_table(text, lang)
        except (LlmError, ValueError, TimeoutError) as exc:
            log.warning("no phrase translation for %s (%s): English phrases", short_code, exc)
            return None
        try:
            await self._redis.set(key, json.dumps(table, ensure_ascii=False))
        except RedisError as exc:
            log.warning("phrases for %s not cached: %s", lang, exc)
        log.info("phrases translated into %s by %s", lang, self._settings.model)
        return table

    async def _translate(self, lang: str, short_code: str) -> str:
        from providers.llm.openai_chat import OpenAiChat  # the SDK only when a call needs it

        model = OpenAiChat(self._settings)
        try:
            return await _ask(model, lang, short_code)
        finally:
            await model.aclose()

    async def complete(self, initiate: CallInitiate, *, wait: bool = True) -> CallInitiate:
        """`initiate` with a translated table for each language that lacks phrases; the
        deployment's and the call's own phrases stay on top.

        Without `wait` (a phone ringing now) only cached tables are used; the missing ones are
        translated in the background, for the next call.
        """
        codes = [lang.short_code for lang in initiate.lang.availables]
        phrases = await self.tables(codes, initiate.phrases, wait=wait)
        if phrases == initiate.phrases:
            return initiate
        return initiate.model_copy(update={"phrases": phrases})

    async def tables(
        self,
        short_codes: list[str],
        phrases: Mapping[str, Mapping[str, str]],
        *,
        wait: bool = True,
    ) -> dict[str, dict[str, str]]:
        """`phrases` completed with a translated table for each language that lacks one."""
        completed = {lang: dict(table) for lang, table in phrases.items()}
        for code in missing_languages(short_codes, phrases):
            table = await (self.table(code) if wait else self.cached(code))
            if table is None and not wait:
                task = asyncio.create_task(self.table(code))
                _BACKGROUND.add(task)
                task.add_done_callback(_BACKGROUND.discard)
            if table is not None:
                lang = primary(code)
                completed[lang] = {**table, **completed.get(lang, {})}
        return completed
