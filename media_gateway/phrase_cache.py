"""Synthesised audio of sentences the bot says again and again (greeting, prompts, goodbye).

The greeting must start within a few hundred milliseconds of the media stream opening: with
the audio already in memory it costs no synthesis at all. Any sentence is cached after its
first synthesis (bounded, least recently used); static phrases are synthesised at start-up.

A sentence that is not cached but starts with a cached clause ("Hello," of a greeting whose
bot name differs per call) plays that clause at once; the rest is synthesised while it plays.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable

from media_gateway.engines import ExpressiveTextToSpeech, TextToSpeech, speaks_styles

MAX_CACHED_CHARS = 300  # long, one-off LLM sentences are not worth keeping
# Where a sentence may be cut and still sound right (a head is looked up up to such a mark).
CLAUSE_END = re.compile(r"[,;:.!?](?=\s)")


class CachedTts:
    """A `TextToSpeech` that replays audio it has already produced for the same input.

    The style is part of the input (a cheerful "Of course." is other audio); the language is
    not: the voice already stands for it, and a phrase warmed without one must still hit.
    """

    def __init__(self, tts: TextToSpeech, *, max_entries: int = 512) -> None:
        self.engine = tts
        self._max = max_entries
        self._audio: OrderedDict[tuple[str, str | None, float, str], list[bytes]] = OrderedDict()
        self.sample_rate = tts.sample_rate
        self.expressive = speaks_styles(tts)
        self.hits = 0
        self.head_hits = 0  # sentences that started with a cached clause

    async def synthesize(
        self,
        text: str,
        *,
        voice: str | None = None,
        rate: float = 1.0,
        lang: str | None = None,
        style: str = "none",
    ) -> AsyncIterator[bytes]:
        style = style if self.expressive else "none"
        key = (text.strip(), voice, round(rate, 2), style)
        cached = self._audio.get(key)
        if cached is not None:
            self._audio.move_to_end(key)
            self.hits += 1
            for chunk in cached:
                yield chunk
            return
        chunks: list[bytes] = []
        rest = key[0]
        head = self._cached_head(*key)
        if head is not None:
            self.head_hits += 1
            head_chunks, rest = head
            for chunk in head_chunks:
                chunks.append(chunk)
                yield chunk
        async for chunk in self._engine_synthesize(rest, voice, rate, lang, style):
            chunks.append(chunk)
            yield chunk
        if len(key[0]) <= MAX_CACHED_CHARS:
            self._audio[key] = chunks
            if len(self._audio) > self._max:
                self._audio.popitem(last=False)

    def _engine_synthesize(
        self, text: str, voice: str | None, rate: float, lang: str | None, style: str
    ) -> AsyncIterator[bytes]:
        if isinstance(self.engine, ExpressiveTextToSpeech) and self.expressive:
            return self.engine.synthesize(text, voice=voice, rate=rate, lang=lang, style=style)
        return self.engine.synthesize(text, voice=voice, rate=rate)

    def _cached_head(
        self, text: str, voice: str | None, rate: float, style: str
    ) -> tuple[list[bytes], str] | None:
        """The audio of the longest cached clause `text` starts with, and the text after it."""
        found = None
        for match in CLAUSE_END.finditer(text):
            rest = text[match.end() :].strip()
            chunks = self._audio.get((text[: match.end()], voice, rate, style))
            if chunks is not None and rest:
                found = (chunks, rest)
        return found

    async def warm(
        self, texts: Iterable[str], voices: Iterable[str | None] = (None,), lang: str | None = None
    ) -> int:
        """Synthesise `texts` for each voice now (in `lang`), before any call needs them."""
        count = 0
        texts = list(texts)
        for voice in voices:
            for text in texts:
                async for _ in self.synthesize(text, voice=voice, lang=lang):
                    pass
                count += 1
        return count
