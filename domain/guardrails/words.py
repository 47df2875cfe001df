"""Every language's word lists, in one place: the guardrails and the gateway's turn taking
read them from here (a language added here is read by every rule built on it).

Each language's words are its module of `domain.guardrails.lang` (one table per language, the
same keys as English); this module gathers them by key for the rules. Words are written folded
where a rule compares folded text (`text.fold`: lower case, no accents) and as spoken where the
rule compares lower-cased transcripts (the gateway).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from domain.guardrails.lang import LANGUAGES


def table(key: str) -> dict[str, tuple[str, ...]]:
    """One word list in every language: language -> its words for `key`."""
    return {lang: words[key] for lang, words in LANGUAGES.items()}


def alternation(key: str) -> str:
    """The regular-expression fragments of `key` in every language, as one alternation (a
    group: wrap it in `\\b(?:...)\\b`); a pattern that never matches when no language has any."""
    fragments = [f for words in LANGUAGES.values() for f in words[key]]
    return "|".join(fragments) if fragments else r"(?!x)x"


def pattern(key: str, flags: int = 0) -> re.Pattern[str]:
    """`key`'s words in every language as whole words."""
    return re.compile(rf"\b(?:{alternation(key)})\b", flags)


# The numbers zero to twelve, the n-th word meaning n.
NUMBERS: Mapping[str, tuple[str, ...]] = table("numbers")
# Ordinal words as said in dates ("December fifth"), the n-th word meaning n + 1.
ORDINALS: Mapping[str, tuple[str, ...]] = table("ordinals")
# Said while dictating a number, an address or an email, besides `NUMBERS`: more is coming.
DICTATION: Mapping[str, tuple[str, ...]] = table("dictation")
# A number announced but not given yet ("my number is", "c'est le"), at the end of a turn.
LEAD_INS: Mapping[str, tuple[str, ...]] = table("lead_ins")
# Listener noises, not a turn.
BACKCHANNELS: Mapping[str, tuple[str, ...]] = table("backchannels")
# The months in order, each with its spoken forms (folded).
MONTHS: Mapping[str, tuple[tuple[str, ...], ...]] = {
    lang: tuple(tuple(forms.split("|")) for forms in months)
    for lang, months in table("months").items()
}
# The days of the week from Monday (folded).
WEEKDAYS: Mapping[str, tuple[str, ...]] = table("weekdays")
# Words that say nothing specific: a value made only of them ("car accident") invents nothing.
STOPWORDS: Mapping[str, tuple[str, ...]] = table("stopwords")


def every(table: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """The words of a table in all its languages."""
    return frozenset(word for words in table.values() for word in words)


def by_position(table: Mapping[str, tuple[tuple[str, ...], ...]]) -> dict[str, int]:
    """Each spoken form of a table of ordered groups (months) to its 1-based position."""
    return {
        word: n
        for groups in table.values()
        for n, group in enumerate(groups, start=1)
        for word in group
    }
