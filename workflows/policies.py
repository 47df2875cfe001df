"""Timeouts and retry policies of the activities the call workflow runs."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Barge-in cancels the LLM activity through its heartbeats, so keep the timeout short.
LLM_HEARTBEAT = timedelta(seconds=2)
# Retries of an LLM iteration are the workflow's (it speaks an error first), not Temporal's.
LLM_RETRY = RetryPolicy(maximum_attempts=1)

QUICK = timedelta(seconds=10)
QUICK_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=5),
    maximum_attempts=5,
)
# Saving the state must eventually succeed: keep retrying (a store outage must not lose data).
SAVE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=30),
)
FLAGS_TIMEOUT = timedelta(seconds=5)

# Post-call runs three slow-model completions with validation retries.
POST_CALL = timedelta(minutes=5)
POST_CALL_HEARTBEAT = timedelta(seconds=30)
