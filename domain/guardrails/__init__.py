"""Deterministic guardrails around a weak LLM, one module per concern.

A small local model invents claim values, hangs up or transfers when nobody asked, forgets to
store what the caller has just answered and parrots. These pure functions check each value
against what the caller said (`grounding`), pick obvious answers out of the caller's turn
(`extraction`), decide which field the bot asks for next and how (`slots`), recognise clear
requests (`intents`) and repeated sentences (`repetition`). Every language's word lists are in
`lang` (one table per language), read by the rules through `words`.
"""

from domain.guardrails.extraction import (
    extract_answer,
    extract_facts,
    find_dates,
    find_emails,
    find_times,
    with_updates,
)
from domain.guardrails.grounding import (
    MAX_CALLER_TURNS,
    NOT_SAID,
    CallerTurn,
    Evidence,
    apply_grounded_updates,
)
from domain.guardrails.intents import (
    Intent,
    caller_intent,
    hang_up_refusal,
    requested_tool,
    transfer_refusal,
)
from domain.guardrails.repetition import echoes_caller, refuses, repeats_bot
from domain.guardrails.slots import (
    ANYTHING_ELSE,
    ASK_FIRST,
    ask_order,
    asks_for,
    next_missing_field,
    question_for,
)
from domain.guardrails.text import fold, heard, last_caller_turn

__all__ = [
    "ANYTHING_ELSE",
    "ASK_FIRST",
    "MAX_CALLER_TURNS",
    "NOT_SAID",
    "CallerTurn",
    "Evidence",
    "apply_grounded_updates",
    "ask_order",
    "asks_for",
    "echoes_caller",
    "extract_answer",
    "extract_facts",
    "Intent",
    "caller_intent",
    "find_dates",
    "find_emails",
    "find_times",
    "fold",
    "hang_up_refusal",
    "heard",
    "last_caller_turn",
    "next_missing_field",
    "question_for",
    "refuses",
    "repeats_bot",
    "requested_tool",
    "transfer_refusal",
    "with_updates",
]
