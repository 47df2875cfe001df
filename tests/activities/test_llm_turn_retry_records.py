"""`llm_turn` retries: what the heartbeats recorded, and the hold phrase of a retry.

Real Redis and the scripted LLM over HTTP; the attempts run in `ActivityEnvironment`, which
hands a retry the details the earlier attempt heartbeated, as Temporal does (the workflow tests
in `tests/workflows/test_turn_crash_gaps.py` do it with the real server and processes).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from redis.asyncio import Redis
from temporalio.testing import ActivityEnvironment

from activities.llm import LlmActivities
from domain.contracts import LlmTurnResult
from providers.sentences.redis_stream import RedisSentenceStream
from scripted_llm.runner import ScriptedLlmServer
from scripted_llm.script import ScriptedReply
from tests.activities.test_llm_turn import (  # noqa: F401 (fixtures)
    FIRST,
    MakeActivities,
    _clean,
    bodies,
    events,
    llm,
    make_activities,
    new_call,
    sentences,
    turn,
    wait_for_events,
)

POINTS = " ".join(f"Point {n} is fine." for n in range(1, 11))


def attempt(number: int, details: list[Any] | None = None) -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=number, heartbeat_details=details or [])
    return env


async def test_a_retry_after_redis_lost_the_keys_skips_what_the_heartbeats_recorded(
    llm: ScriptedLlmServer,  # noqa: F811
    make_activities: MakeActivities,  # noqa: F811
    sentences: RedisSentenceStream,  # noqa: F811
    redis: Redis,
) -> None:
    call = new_call()
    slow = ScriptedReply(text=FIRST, chunk_chars=8, chunk_delay_s=0.15)
    llm.state.add(slow, ScriptedReply(text=FIRST), user=call.call_id)
    activities: LlmActivities = await make_activities()
    beats: list[Any] = []
    first = ActivityEnvironment()
    first.on_heartbeat = lambda *details: beats.append(details)
    task = asyncio.create_task(first.run(activities.llm_turn, turn(call)))
    await wait_for_events(sentences, call, 2)
    first.cancel()
    await asyncio.gather(task, return_exceptions=True)
    # Redis restarted without its data: the stream and the keys of what was said are gone.
    await redis.delete(sentences.key(call.call_id), sentences.keys_key(call.call_id))
    result: LlmTurnResult = await attempt(2, list(beats[-1])).run(activities.llm_turn, turn(call))
    said = [(e.kind, e.index, e.text) for e in await events(sentences, call)]
    assert said == [("sentence", 2, "Third, it is free.")]  # only what was not said yet
    assert result.content == FIRST and result.sentences == 3


async def test_a_retry_with_no_record_says_it_all_again(
    llm: ScriptedLlmServer,  # noqa: F811
    make_activities: MakeActivities,  # noqa: F811
    sentences: RedisSentenceStream,  # noqa: F811
    redis: Redis,
) -> None:
    """The same wipe without the heartbeat record: why the record is needed."""
    call = new_call()
    slow = ScriptedReply(text=FIRST, chunk_chars=8, chunk_delay_s=0.15)
    llm.state.add(slow, ScriptedReply(text=FIRST), user=call.call_id)
    activities: LlmActivities = await make_activities()
    first = ActivityEnvironment()
    task = asyncio.create_task(first.run(activities.llm_turn, turn(call)))
    await wait_for_events(sentences, call, 2)
    first.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await redis.delete(sentences.key(call.call_id), sentences.keys_key(call.call_id))
    await attempt(2).run(activities.llm_turn, turn(call))
    assert len(await events(sentences, call)) == 3


async def test_a_retry_of_an_attempt_still_speaking_does_not_hold_the_caller(
    llm: ScriptedLlmServer,  # noqa: F811
    make_activities: MakeActivities,  # noqa: F811
    sentences: RedisSentenceStream,  # noqa: F811
) -> None:
    """A starved worker's live attempt retried by a heartbeat timeout: both go on, no hold."""
    call = new_call()
    live = ScriptedReply(text=POINTS, chunk_chars=4, chunk_delay_s=0.04)
    llm.state.add(live, ScriptedReply(text=POINTS, delay_s=1.5), user=call.call_id)
    activities: LlmActivities = await make_activities()
    first = asyncio.create_task(ActivityEnvironment().run(activities.llm_turn, turn(call)))
    await wait_for_events(sentences, call, 1)
    retry: LlmTurnResult = await attempt(2).run(activities.llm_turn, turn(call))
    await first
    said = [(e.kind, e.index) for e in await events(sentences, call)]
    assert said == [("sentence", n) for n in range(10)]  # each once, no filler
    assert retry.content == POINTS
