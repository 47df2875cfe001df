"""A reminder's call back due at night waits for the callee's calling hours (time-skipping
test server: the night passes in milliseconds), in the zone of their number."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.reminders import follow_up_call_id
from domain.call import Reminder
from scripted_llm.runner import ScriptedLlmServer
from tests.after_call.test_reminders import Env, running_env
from workflows.call import CallWorkflow

PARIS = ZoneInfo("Europe/Paris")  # the zone of INITIATE's number (+33…)
WINDOW = {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "09:00",
          "end": "20:00"}  # fmt: skip


@pytest.fixture
async def env(
    time_skipping_env: WorkflowEnvironment,
    redis_url: str,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
) -> AsyncIterator[Env]:
    async for running in running_env(
        time_skipping_env, redis_url, scripted_llm, tmp_path, calling_hours=WINDOW
    ):
        yield running


async def test_a_call_back_due_at_night_waits_for_the_morning(env: Env) -> None:
    now = await env.env.get_current_time()
    night = datetime.combine(now.astimezone(PARIS).date() + timedelta(days=1), time(2, 30), PARIS)
    morning = datetime.combine(night.date(), time(9, 0), PARIS)
    reminder = Reminder(
        created_at=now,
        title="Call back with the quote",
        description="Give the customer the garage's quote.",
        due_date_time=night,
        owner="assistant",  # the bot calls back
    )
    call_id = await env.call_with(reminder)
    handle = await env.start(call_id, reminder)
    done = await asyncio.wait_for(handle.result(), 30)
    assert done.status == "sent" and done.attempts == 1
    follow_up = env.client.get_workflow_handle_for(
        CallWorkflow.run, f"call-{follow_up_call_id(call_id, reminder)}"
    )
    placed = (await follow_up.query(CallWorkflow.get_state)).created_at
    assert morning <= placed < morning + timedelta(minutes=5), placed.astimezone(PARIS)
    # The wait is a durable timer in the reminder's history, 6 h 30 to the minute.
    timers = [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        async for e in handle.fetch_history_events()
        if e.HasField("timer_started_event_attributes")
    ]
    assert any(abs(t - timedelta(hours=6, minutes=30)) < timedelta(seconds=5) for t in timers)


async def test_an_sms_reminder_does_not_wait(env: Env) -> None:
    now = await env.env.get_current_time()
    night = datetime.combine(now.astimezone(PARIS).date() + timedelta(days=1), time(2, 30), PARIS)
    reminder = Reminder(
        created_at=now, title="Send the form", due_date_time=night, owner="customer"
    )
    call_id = await env.call_with(reminder)
    handle = await env.start(call_id, reminder)
    done = await asyncio.wait_for(handle.result(), 30)
    assert done.status == "sent"
    assert done.done_at is not None and done.done_at < night + timedelta(minutes=5)
