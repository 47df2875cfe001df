"""How a call ended: one outcome per call, shared by the call workflow, campaigns, webhooks
and reports. Pure domain code (the workflow sandbox imports it)."""

from __future__ import annotations

from enum import StrEnum


class CallOutcome(StrEnum):
    COMPLETED = "completed"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    REJECTED = "rejected"
    VOICEMAIL = "voicemail"
    FAILED = "failed"
    CALLER_HUNG_UP = "caller_hung_up"
    TRANSFERRED = "transferred"
    TRANSFER_FAILED = "transfer_failed"
    ABANDONED = "abandoned"


# Outcomes a campaign may retry (each with its own delay and count in the retry rules).
RETRYABLE_OUTCOMES: frozenset[CallOutcome] = frozenset(
    {CallOutcome.NO_ANSWER, CallOutcome.BUSY, CallOutcome.VOICEMAIL, CallOutcome.FAILED}
)
