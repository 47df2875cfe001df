"""Grounding: a claim value the model stores must be one the caller actually said.

A small local model invents values ("John Doe", policy "1234567890"): each valid value is
checked against what the caller said lately before it is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import phonenumbers

from domain.call import CallState
from domain.claim import (
    ClaimField,
    ClaimFieldType,
    FieldResult,
    FieldUpdate,
    apply_updates,
    parse_datetime,
    validate_value,
)
from domain.guardrails.extraction import find_dates, find_emails, find_times
from domain.guardrails.text import (
    WORD_RE,
    compact,
    fold,
    heard,
    is_caller_turn,
    is_name_field,
    stem,
)
from domain.guardrails.words import STOPWORDS, every
from domain.phone import timezone_for

MAX_CALLER_TURNS = 12  # what the caller said lately is the evidence a value must come from
NOT_SAID = "the caller did not say {value!r}"

_STOPWORDS = every(STOPWORDS)
_NONE_VALUES = re.compile(
    r"^(none|no|nothing|nobody|no one|n/?a|not applicable|unknown|not known|aucun\w*|rien"
    r"|personne|non|neant|no \w+|none \w+|not \w+)\W*$"
)
_NEGATION = re.compile(
    r"\b(no|not|none|nobody|nothing|never|no one|aucun\w*|rien|personne|pas|non)\b|n't\b"
)


@dataclass(frozen=True)
class CallerTurn:
    """One thing the caller said, in the forms the checks compare."""

    text: str  # folded, number words as digits
    compact: str
    at: datetime  # when it was said, in the caller's timezone


class Evidence:
    """What the caller said lately: the only source a claim value may come from."""

    def __init__(self, call: CallState) -> None:
        self.tz = timezone_for(call.initiate.phone_number)
        said = [m for m in call.messages if is_caller_turn(m)][-MAX_CALLER_TURNS:]
        zone = ZoneInfo(self.tz)
        self.turns = [
            CallerTurn(heard(m.content), compact(heard(m.content)), m.created_at.astimezone(zone))
            for m in said
        ]
        self.words = {w for t in self.turns for w in WORD_RE.findall(t.text)}
        self.stems = {stem(w) for w in self.words}
        self.emails = {e for t in self.turns for e in find_emails(t.text)}
        self.dates = {d for t in self.turns for d in find_dates(t.text, t.at)}
        self.times = {hm for t in self.turns for hm in find_times(t.text)}
        self.negated = any(_NEGATION.search(t.text) for t in self.turns)

    def said_compact(self, needle: str) -> bool:
        return bool(needle) and any(needle in t.compact for t in self.turns)

    def refusal(self, field: ClaimField, value: str) -> str | None:
        """Why `value` (already validated) is not what the caller said, or None when it is."""
        match field.type:
            case ClaimFieldType.EMAIL:
                local, _, domain = fold(value).partition("@")
                name = domain.rsplit(".", 1)[0]
                ok = value.casefold() in self.emails or all(
                    self.said_compact(compact(part)) for part in (local, name)
                )
            case ClaimFieldType.PHONE_NUMBER:
                national = _national_digits(value)
                ok = any(national in re.sub(r"\D", "", t.text) for t in self.turns)
            case ClaimFieldType.DATETIME:
                ok = self._said_datetime(parse_datetime(value, self.tz))
            case ClaimFieldType.TEXT:
                ok = self._said_text(field, value)
        return None if ok else NOT_SAID.format(value=value)

    def _said_datetime(self, when: datetime) -> bool:
        local = when.astimezone(ZoneInfo(self.tz))
        hm = (local.hour, local.minute)
        told_time = hm == (0, 0) or hm in self.times
        today = {t.at.date() for t in self.turns}
        # A time alone ("at 8:30") means today, which is the date a model fills in.
        told_date = local.date() in self.dates or (hm in self.times and local.date() in today)
        return told_date and told_time

    def _said_text(self, field: ClaimField, value: str) -> bool:
        folded = fold(value)
        words = WORD_RE.findall(folded)
        # Every number or code in the value (policy, plate, street number) was said as is.
        codes = re.findall(r"[\w-]*\d[\w-]*", folded)
        if not all(self.said_compact(compact(c)) for c in codes):
            return False
        if is_name_field(field):
            return all(w in self.words or self.said_compact(w) for w in words if len(w) > 1)
        if _NONE_VALUES.match(folded.strip()):
            return self.negated
        content = [
            w for w in words if len(w) > 2 and w not in _STOPWORDS and not re.search(r"\d", w)
        ]
        return not content or any(stem(w) in self.stems for w in content)


def _national_digits(e164: str) -> str:
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return re.sub(r"\D", "", e164)
    return str(parsed.national_number)


def apply_grounded_updates(call: CallState, updates: list[FieldUpdate]) -> list[FieldResult]:
    """`apply_updates`, refusing every valid value the caller did not say (nothing stored)."""
    schema = call.claim_schema()
    by_name = {f.name: f for f in schema}
    evidence = Evidence(call)
    results: list[FieldResult] = []
    for update in updates:
        field = by_name.get(update.field)
        if field is not None:
            try:
                value = validate_value(field, update.value, evidence.tz)
            except ValueError:
                value = None  # apply_updates explains what is wrong with it
            reason = evidence.refusal(field, value) if value is not None else None
            if reason is not None:
                results.append(FieldResult(field=field.name, ok=False, reason=reason))
                continue
        results.extend(apply_updates(call.claim, schema, [update], evidence.tz))
    return results
