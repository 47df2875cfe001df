"""Repetition: a small model's sentences that parrot the caller or the bot itself, or refuse
what it was asked (unusable: never spoken, the bot's own question follows)."""

from __future__ import annotations

import re

from domain.call import CallState, Persona
from domain.guardrails.text import WORD_RE, heard, is_caller_turn


def echoes_caller(sentence: str, call: CallState, *, threshold: float = 0.6) -> bool:
    """True when a reply sentence mostly repeats the caller's last turn (small models do)."""
    last = next((m for m in reversed(call.messages) if is_caller_turn(m)), None)
    if last is None:
        return False
    words = WORD_RE.findall(heard(sentence))
    if len(words) < 4:
        return False
    theirs = set(WORD_RE.findall(heard(last.content)))
    return sum(w in theirs for w in words) / len(words) >= threshold


def repeats_bot(sentence: str, call: CallState) -> bool:
    """True when the bot already said this sentence (a small model copies its own history)."""
    words = WORD_RE.findall(heard(sentence))
    if len(words) < 3:
        return False
    said = " ".join(words)
    return any(
        said in " ".join(WORD_RE.findall(heard(m.content)))
        for m in call.messages
        if m.persona is Persona.ASSISTANT and m.content
    )


# A small model's stock refusal, said to questions it can answer ("I'm sorry, but I can't
# assist with that."): measured in most calls of the evaluation.
_REFUSAL = re.compile(
    r"\b(i'?m sorry,? but i (can'?t|cannot|am unable to)|i (can'?t|cannot) (assist|help) with"
    r"|as an ai\b)"
)


def refuses(sentence: str) -> bool:
    """True for a stock refusal of the model."""
    return bool(_REFUSAL.search(heard(sentence)))
