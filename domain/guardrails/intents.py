"""Intents: what the caller clearly asked for (a person, goodbye), which a small model misses,
and the refusals of a hang-up or transfer nobody asked for."""

from __future__ import annotations

import re

from domain.call import CallState
from domain.guardrails.text import fold, is_caller_turn, last_caller_turn
from domain.tools import ToolName

_HUMAN_ASKED = re.compile(
    r"\b(human|person|people|agent|someone|somebody|representative|operator|advis[eo]r|manager"
    r"|supervisor|conseill\w*|humain|quelqu.un)\b"
)
# Requests clear enough to act on without the model (it misses them: measured).
_WANTS_HUMAN = re.compile(
    r"\b(talk|speak|transfer|put me through|connect|get|give|want|need)\b.{0,30}"
    r"\b(human|real person|a person|someone|somebody|agent|representative|operator|manager"
    r"|advis[eo]r|conseill\w*|humain|quelqu.un)\b"
    r"|\b(human|agent|representative|operator)\W+please\b"
)
_SAYS_GOODBYE = re.compile(r"\b(bye|goodbye|good bye|au revoir)\b")
_GOODBYE = re.compile(
    r"\b(bye|goodbye|good bye|hang up|that'?s all|that is all|nothing else|end (the|this) call"
    r"|have a (nice|good) day|au revoir|bonne journee)\b"
)


def requested_tool(call: CallState) -> ToolName | None:
    """The tool the caller's turn clearly asks for (a person, goodbye), when it is the last."""
    if not call.messages or not is_caller_turn(call.messages[-1]):
        return None
    text = fold(call.messages[-1].content)
    if _WANTS_HUMAN.search(text):
        return ToolName.TALK_TO_HUMAN
    if _SAYS_GOODBYE.search(text):
        return ToolName.END_CALL
    return None


def transfer_refusal(call: CallState) -> str | None:
    """Why `talk_to_human` must not run: the caller did not ask for a person."""
    if _HUMAN_ASKED.search(fold(last_caller_turn(call))):
        return None
    return "Error: the caller did not ask for a human agent; go on helping them yourself."


def hang_up_refusal(call: CallState) -> str | None:
    """Why `end_call` must not run: the caller did not say goodbye."""
    if _GOODBYE.search(fold(last_caller_turn(call))):
        return None
    return "Error: the caller did not say goodbye; do not hang up, ask your next question."


# --- the bot's own question (small models) ------------------------------------------------
