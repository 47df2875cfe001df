"""Call-center figures over a set of stored calls: pure aggregation, no I/O.

Every figure is computed only from what a call stores; where the stored data cannot give the
figure the issue asks for (voice-to-voice latency), a named stand-in is computed and the page
says what it measures.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from domain.call import Action, CallState, Persona
from domain.outcome import CallOutcome

# A person (not a machine) took the call and the bot talked with them.
ANSWERED: frozenset[CallOutcome] = frozenset(
    {
        CallOutcome.COMPLETED,
        CallOutcome.CALLER_HUNG_UP,
        CallOutcome.TRANSFERRED,
        CallOutcome.TRANSFER_FAILED,
    }
)
IN_PROGRESS = "in_progress"  # the bucket of calls with no outcome yet


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (`q` in 0..100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def handle_seconds(call: CallState) -> float | None:
    """Connected seconds of a phone call; for a chat, first to last message; None when the
    call never connected or has fewer than two messages."""
    if call.usage.connected_seconds > 0:
        return call.usage.connected_seconds
    if call.channel == "chat" and len(call.messages) >= 2:
        moments = [_utc(m.created_at) for m in call.messages]
        return (max(moments) - min(moments)).total_seconds()
    return None


def claim_complete(call: CallState) -> bool:
    """Every field of the call's claim schema has a value."""
    schema = call.claim_schema()
    return bool(schema) and all(call.claim.get(f.name) for f in schema)


def reply_gaps(call: CallState) -> list[float]:
    """Seconds from each caller message to the bot's first message of the same turn, from the
    stored message timestamps (workflow clock). Not voice-to-voice: the caller's message is
    stored after speech recognition ends, and the bot's when its sentence is recorded, not
    when its audio starts."""
    talk = [m for m in call.messages if m.action is Action.TALK and m.content.strip()]
    gaps: list[float] = []
    for index, message in enumerate(talk):
        if message.persona is not Persona.HUMAN:
            continue
        for reply in talk[index + 1 :]:
            if reply.persona is Persona.HUMAN:
                break  # the caller spoke again before any answer
            same_turn = message.turn_id is None or reply.turn_id in (None, message.turn_id)
            if reply.persona is Persona.ASSISTANT and same_turn:
                gap = (_utc(reply.created_at) - _utc(message.created_at)).total_seconds()
                if gap >= 0:
                    gaps.append(gap)
                break
    return gaps


@dataclass
class Analytics:
    """The figures of a set of calls; rates are None when their denominator is zero."""

    calls: int = 0
    ended: int = 0
    answered: int = 0
    claims_completed: int = 0
    transfers: int = 0
    transfers_failed: int = 0
    handoffs_requested: int = 0
    by_outcome: Counter[str] = field(default_factory=Counter)
    by_day: dict[date, Counter[str]] = field(default_factory=dict)
    handle_seconds: list[float] = field(default_factory=list)
    reply_gaps: list[float] = field(default_factory=list)
    cost_by_currency: dict[str, float] = field(default_factory=dict)
    priced_calls: Counter[str] = field(default_factory=Counter)
    completed_claims_by_currency: Counter[str] = field(default_factory=Counter)

    @property
    def answer_rate(self) -> float | None:
        return self.answered / self.ended if self.ended else None

    @property
    def claim_completion_rate(self) -> float | None:
        return self.claims_completed / self.answered if self.answered else None

    @property
    def average_handle_seconds(self) -> float | None:
        values = self.handle_seconds
        return sum(values) / len(values) if values else None

    @property
    def reply_gap_p50(self) -> float | None:
        return percentile(self.reply_gaps, 50)

    @property
    def reply_gap_p95(self) -> float | None:
        return percentile(self.reply_gaps, 95)

    def cost_per_call(self, currency: str) -> float | None:
        priced = self.priced_calls[currency]
        return self.cost_by_currency[currency] / priced if priced else None

    def cost_per_completed_claim(self, currency: str) -> float | None:
        done = self.completed_claims_by_currency[currency]
        return self.cost_by_currency[currency] / done if done else None

    def outcomes(self) -> list[str]:
        """The outcomes seen, in the enum's order, then calls still in progress."""
        known = [o.value for o in CallOutcome if self.by_outcome[o.value]]
        return known + ([IN_PROGRESS] if self.by_outcome[IN_PROGRESS] else [])


def aggregate(calls: list[CallState]) -> Analytics:
    """The figures of `calls` (days in UTC)."""
    result = Analytics()
    for call in calls:
        result.calls += 1
        outcome = call.outcome.value if call.outcome is not None else IN_PROGRESS
        result.by_outcome[outcome] += 1
        day = _utc(call.created_at).date()
        result.by_day.setdefault(day, Counter())[outcome] += 1
        if call.outcome is not None:
            result.ended += 1
        answered = call.outcome in ANSWERED
        complete = answered and claim_complete(call)
        result.answered += answered
        result.claims_completed += complete
        result.transfers += call.outcome is CallOutcome.TRANSFERRED
        result.transfers_failed += call.outcome is CallOutcome.TRANSFER_FAILED
        result.handoffs_requested += call.handoff is not None
        seconds = handle_seconds(call)
        if seconds is not None:
            result.handle_seconds.append(seconds)
        result.reply_gaps.extend(reply_gaps(call))
        cost = call.usage.cost
        if cost is not None:
            total = result.cost_by_currency.get(cost.currency, 0.0)
            result.cost_by_currency[cost.currency] = total + cost.total
            result.priced_calls[cost.currency] += 1
            result.completed_claims_by_currency[cost.currency] += complete
    result.by_day = dict(sorted(result.by_day.items()))
    return result


def days_between(start: date, end: date) -> list[date]:
    """Every day from `start` to `end` inclusive (the chart's x axis has no gaps)."""
    return [date.fromordinal(d) for d in range(start.toordinal(), end.toordinal() + 1)]
