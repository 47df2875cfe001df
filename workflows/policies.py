"""Timeouts and retry policies of the activities the call workflow runs."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# Before patch `llm-turn-retry` (kept for the executions that started before it): a single
# attempt, retried by the workflow after it spoke an error.
LLM_HEARTBEAT = timedelta(seconds=2)
LLM_RETRY = RetryPolicy(maximum_attempts=1)
# `llm_turn` is safe to retry (its sentences are keyed by turn, iteration and index): Temporal
# retries it at once, and the caller hears no apology when a retry answers. The heartbeat
# timeout is how long a killed worker's turn waits before it moves (the activity beats every
# 0.25 s); it also delivers a barge-in's cancellation. The workflow bounds all the attempts by
# the hard timeout (schedule-to-close), after which it apologises.
LLM_HEARTBEAT_RETRIED = timedelta(seconds=1)
LLM_RETRY_SAFE = RetryPolicy(
    initial_interval=timedelta(milliseconds=100),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=1),
    maximum_attempts=3,
    non_retryable_error_types=["LlmFatal"],
)
# After patch `llm-turn-until-hard`: no attempt count, only the hard timeout. Three attempts
# were spent within ~0.3 s of a Redis restart (each failed at its first append), so the
# workflow apologised and its next iteration said the whole answer again (measured: 3
# sentences heard twice, with and without AOF). A retry skips what was said, so retrying
# until the hard timeout costs the caller nothing; the soft-timeout filler covers the wait.
# At most 0.5 s apart: a Redis outage fails an attempt at once, and the turn goes on within
# 0.5 s of Redis being back (an LLM outage is paced by the activity's own per-model retries).
LLM_RETRY_UNTIL_HARD = RetryPolicy(
    initial_interval=timedelta(milliseconds=100),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(milliseconds=500),
    non_retryable_error_types=["LlmFatal"],
)

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
# After patch `flags-fallback`: a flag store outage keeps the flags last read rather than
# holding the turn (a local activity's default policy retries for ever, up to 100 s apart).
FLAGS_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200),
    maximum_interval=timedelta(seconds=1),
    maximum_attempts=2,
)

# Post-call runs three slow-model completions with validation retries.
POST_CALL = timedelta(minutes=5)
POST_CALL_HEARTBEAT = timedelta(seconds=30)
