"""Intents: what the caller clearly asked for (a person, goodbye), which a small model misses,
and the refusals of a hang-up or transfer nobody asked for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from domain.call import CallState, Persona
from domain.guardrails.facts import spoken_hours
from domain.guardrails.lang import LANGUAGES
from domain.guardrails.text import fold, heard, is_caller_turn, last_caller_turn
from domain.guardrails.words import WEEKDAYS, alternation, pattern
from domain.tools import ToolName

_HUMAN_ASKED = pattern("human_asked")
# Requests clear enough to act on without the model (it misses them: measured).
_WANTS_HUMAN = re.compile(
    rf"\b(?:{alternation('talk_to')})\b.{{0,30}}\b(?:{alternation('human_wanted')})\b"
    rf"|\b(?:{alternation('wants_human')})\b"
)
_SAYS_GOODBYE = pattern("says_goodbye")
_GOODBYE = re.compile(rf"\b(?:{alternation('says_goodbye')}|{alternation('goodbye')})\b")


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


# The caller's requests a small model misses or obeys wrongly, read in pure code: a call back
# (with its time: a reminder), a language, an attempt to break the bot's instructions, small
# talk, and questions, each answered from a template.


@dataclass(frozen=True)
class Intent:
    """What the caller's turn asks for, besides the facts it gives."""

    kind: Literal[
        "callback",  # detail: the ISO date and time to call back
        "callback_when",  # a call back without a time: ask for it
        "language",  # detail: the short code to switch to
        "no_prompt",  # asks for the bot's prompt or instructions
        "decline",  # a joke, a poem, a role: not on this call
        "small_talk",  # detail: the question asked
        "question",  # detail: the kind (bot_name, robot, duration, ...) or "" for another
    ]
    detail: str = ""


_CALLBACK = pattern("callback")
# The bot's own question asking when to call back: the caller's answer is the time.
_CALLBACK_ASKED = pattern("callback_asked")
# Each language by the names callers give it, and the words of a turn spoken in it.
_LANGUAGES = {lang: "|".join(words["language_names"]) for lang, words in LANGUAGES.items()}
_LANGUAGE_ASKED = pattern("switch")
# Words of a language that English never uses: a turn with three is in that language.
_OWN_WORDS = {lang: frozenset(words["own"]) for lang, words in LANGUAGES.items() if words["own"]}
_PROMPT_ASKED = pattern("prompt")
_BREAK_ASKED = pattern("breaking")
_SMALL_TALK = pattern("small_talk")
_QUESTION_KINDS = tuple(
    (kind, pattern(f"q_{kind}"))
    for kind in ("bot_name", "robot", "duration", "next_steps", "refund", "billing", "advice")
)


def caller_intent(call: CallState, now: datetime, tz: str) -> Intent | None:
    """The caller's last turn's request, besides a person or goodbye (`requested_tool`)."""
    if not call.messages or not is_caller_turn(call.messages[-1]):
        return None
    said = call.messages[-1].content
    text = fold(said)
    bot = next(
        (fold(m.content) for m in reversed(call.messages[:-1]) if m.persona is Persona.ASSISTANT),
        "",
    )
    if _CALLBACK.search(text) or (_CALLBACK_ASKED.search(bot) and bot.rstrip().endswith("?")):
        when = callback_time(text, now, tz)
        if when is not None:
            return Intent("callback", when.isoformat())
        if _CALLBACK.search(text):
            return Intent("callback_when")
    lang = _language(call, text)
    if lang is not None:
        return Intent("language", lang)
    if _PROMPT_ASKED.search(text):
        return Intent("no_prompt")
    if _BREAK_ASKED.search(text):
        return Intent("decline")
    asked = [s for s in re.split(r"(?<=[.!?])\s+", said) if s.rstrip().endswith("?")]
    if not asked:
        return None
    question = fold(asked[-1])
    if _SMALL_TALK.search(question):
        return Intent("small_talk", asked[-1])
    for kind, asked_kind in _QUESTION_KINDS:
        if asked_kind.search(question):
            return Intent("question", kind)
    return Intent("question", "")


def _language(call: CallState, text: str) -> str | None:
    """The available language the caller asks for, or speaks, other than the call's."""
    current = call.lang.short_code.split("-")[0]
    available = {
        lang.short_code.split("-")[0]: lang.short_code for lang in call.initiate.lang.availables
    }
    wanted = None
    if _LANGUAGE_ASKED.search(text):
        # The first language named that is not the call's: "French instead of English".
        named = [p for p, names in _LANGUAGES.items() if re.search(rf"\b({names})\b", text)]
        wanted = next((p for p in named if p != current), None)
    if wanted is None:
        # Spoken in another language: the one with the most of its own words, three at least.
        words = re.findall(r"[\w']+", text)
        counts = {p: sum(w in own for w in words) for p, own in _OWN_WORDS.items() if p != current}
        best = max(counts, key=lambda p: counts[p], default=None)
        if best is not None and counts[best] >= 3:
            wanted = best
    if wanted is None or wanted == current:
        return None
    return available.get(wanted)


_TOMORROW = pattern("tomorrow")
_AFTER_TOMORROW = pattern("after_tomorrow")
_IN_HOURS = [re.compile(rf"\b{f}\b") for w in LANGUAGES.values() for f in w["in_hours"]]
_LATER = re.compile(rf"\b(?:pm|{alternation('later_in_day')})\b")
_WEEKDAY_NAMES = {day: n for days in WEEKDAYS.values() for n, day in enumerate(days)}


def callback_time(text: str, now: datetime, tz: str) -> datetime | None:
    """When the caller wants to be called back, in the future, from their words."""
    # extraction reads `requested_tool` from here: imported when first needed
    from domain.guardrails.extraction import find_dates, find_times  # noqa: PLC0415

    local = now.astimezone(ZoneInfo(tz))
    folded = spoken_hours(heard(text))
    relative = next((m for p in _IN_HOURS if (m := p.search(folded))), None)
    if relative:
        amount = int(relative.group(1)) if relative.group(1).isdigit() else 1
        unit = timedelta(minutes=1) if relative.group(2).startswith("min") else timedelta(hours=1)
        return (local + amount * unit).replace(second=0, microsecond=0)
    day: date | None = None
    if _AFTER_TOMORROW.search(folded):
        day = local.date() + timedelta(days=2)
    elif _TOMORROW.search(folded):
        day = local.date() + timedelta(days=1)
    else:
        names = [n for n in _WEEKDAY_NAMES if re.search(rf"\b{n}\b", folded)]
        if names:
            ahead = (_WEEKDAY_NAMES[names[0]] - local.weekday()) % 7 or 7
            day = local.date() + timedelta(days=ahead)
        else:
            future = sorted(d for d in find_dates(folded, local) if d >= local.date())
            day = future[0] if future else None
    times = sorted(find_times(folded))
    if len(times) == 2 and times[1][0] == times[0][0] + 12:
        # No am/pm said: office hours decide (8 -> 8:00, 3 -> 15:00), or "evening".
        later = _LATER.search(folded)
        times = [times[1] if later or times[0][0] < 8 else times[0]]
    if len(times) != 1:
        return None
    hour, minute = times[0]
    if day is None:
        day = local.date()
        if (hour, minute) <= (local.hour, local.minute):
            day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=local.tzinfo)
