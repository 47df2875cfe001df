"""The forms every guardrail compares: folded text, number words as digits, caller turns."""

from __future__ import annotations

import re
import unicodedata

from domain.call import Action, CallState, Message, Persona
from domain.claim import ClaimField
from domain.guardrails.words import NUMBERS

_NUMBER_WORDS = {word: str(n) for n, word in enumerate(NUMBERS["en"])}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b")
WORD_RE = re.compile(r"[a-z0-9]+")


def fold(text: str) -> str:
    """Lower case without accents, apostrophes made plain: the form every check compares."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.casefold().replace("’", "'")


def heard(text: str) -> str:
    """`fold`ed, with number words as digits ("five" -> "5"), as speech-to-text may write them."""
    return _NUMBER_WORD.sub(lambda w: _NUMBER_WORDS[w.group()], fold(text))


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


def last_caller_turn(call: CallState) -> str:
    return next((m.content for m in reversed(call.messages) if is_caller_turn(m)), "")
