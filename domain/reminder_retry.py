"""When a reminder's call back counts as done, and how an unanswered one is retried.

Pure domain code (the workflow sandbox imports it). Kept apart from `domain.campaign`'s retry
rules because `domain.contracts` carries these in `ReminderInput` and `domain.campaign` imports
`domain.contracts` (the other way round would be an import cycle); the shape is the same.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from domain.outcome import CallOutcome

# A call back reached the person when they talked to the bot: the call was completed, handed
# to an agent (even if the agent then failed to pick up: the caller was heard), or the callee
# hung up after talking. `abandoned` (picked up, said nothing) and `rejected` (declined) are not
# retried either: the reminder fails with that outcome rather than ring someone who refused.
ANSWERED_OUTCOMES: frozenset[CallOutcome] = frozenset(
    {
        CallOutcome.COMPLETED,
        CallOutcome.TRANSFERRED,
        CallOutcome.TRANSFER_FAILED,
        CallOutcome.CALLER_HUNG_UP,
    }
)

# A retry may be put off a week at most, and an outcome retried ten times at most.
MAX_REMINDER_RETRY_SEC = 7 * 24 * 3_600
MAX_REMINDER_RETRIES = 10


class ReminderRetry(BaseModel):
    """Call again `count` more times after this outcome, each `delay_sec` after the call ended
    (then waiting for calling hours, as the first call back did)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delay_sec: float = Field(ge=0, le=MAX_REMINDER_RETRY_SEC)
    count: int = Field(ge=0, le=MAX_REMINDER_RETRIES)


class ReminderRetryRules(BaseModel):
    """Per unanswered outcome (settings `reminders.retry`); shorter than a campaign's: the
    customer was promised this call."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    no_answer: ReminderRetry = ReminderRetry(delay_sec=1_800, count=2)
    busy: ReminderRetry = ReminderRetry(delay_sec=600, count=2)
    voicemail: ReminderRetry = ReminderRetry(delay_sec=2 * 3_600, count=1)
    failed: ReminderRetry = ReminderRetry(delay_sec=600, count=1)

    def delay_after(self, outcome: CallOutcome, retried: int) -> float | None:
        """Seconds until the next call back after one that ended with `outcome`, this outcome
        having been retried `retried` times already; None when the reminder is done with."""
        if outcome in ANSWERED_OUTCOMES:
            return None
        rule: ReminderRetry | None = getattr(self, outcome.value, None)
        if rule is None or retried >= rule.count:
            return None
        return rule.delay_sec
