"""The forms every guardrail compares: folded text, number words as digits, caller turns."""

from __future__ import annotations

import re
import unicodedata

from domain.call import Action, CallState, Message, Persona
from domain.claim import ClaimField
from domain.guardrails.words import NUMBERS, ORDINALS

_NUMBER_WORDS = {word: str(n) for n, word in enumerate(NUMBERS["en"])}
_ORDINAL_WORDS = {word: n + 1 for words in ORDINALS.values() for n, word in enumerate(words)}
# "twenty first" -> 21, "fifth" -> 5, "thirty first" -> 31 (dates said in words)
_ORDINAL = re.compile(
    r"\b(?:(twenty|thirty)[ -])?(" + "|".join(_ORDINAL_WORDS) + r")\b|\b(twentieth|thirtieth)\b"
)
_TENS = {"twenty": 20, "thirty": 30, "twentieth": 20, "thirtieth": 30}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b")
WORD_RE = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Lower case without accents, apostrophes made plain: the form every check compares."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.casefold().replace("’", "'")


def heard(text: str) -> str:
    """`fold`ed, with number words as digits ("five" -> "5"), as speech-to-text may write them."""
    ordinals = _ORDINAL.sub(_ordinal, fold(text))
    return _NUMBER_WORD.sub(lambda w: _NUMBER_WORDS[w.group()], ordinals)


def _ordinal(match: re.Match[str]) -> str:
    tens, unit, round_tens = match.groups()
    if round_tens:
        return str(_TENS[round_tens])
    return str(_TENS.get(tens or "", 0) + _ORDINAL_WORDS[unit])


def compact(text: str) -> str:
    """Only letters and digits: "AB-123 cd" and "a b 1 2 3 c d" both give "ab123cd"."""
    return "".join(WORD_RE.findall(text))


def stem(word: str) -> str:
    return word[:4]


def is_caller_turn(message: Message) -> bool:
    return (
        message.persona is Persona.HUMAN
        and message.action in (Action.TALK, Action.SMS)
        and bool(message.content.strip())
    )


def is_name_field(field: ClaimField) -> bool:
    return field.name == "name" or field.name.endswith("_name")


def is_code_field(field: ClaimField) -> bool:
    """A text field whose value is a code said as is (policy number, ID, last digits)."""
    return field.name.endswith(("_number", "_id")) or bool(
        re.search(r"(^|_)(digits|code|id|number)(_|$)", field.name)
    )


def last_caller_turn(call: CallState) -> str:
    return next((m.content for m in reversed(call.messages) if is_caller_turn(m)), "")
