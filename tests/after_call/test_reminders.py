"""Durable reminders on the time-skipping test server: days pass in milliseconds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.reminders import follow_up_call_id
from core.settings import Settings
from core.stores import open_store
from domain.call import CallInitiate, CallState, Reminder
from domain.contracts import ReminderInput
from providers.sms.outbox import OutboxSms
from providers.store.base import CallStore
from scripted_llm.runner import ScriptedLlmServer
from scripted_llm.script import ScriptedReply, ScriptedToolCall
from tests.conftest import Stack, make_settings
from worker import build_worker
from workflows.call import CallWorkflow
from workflows.reminder import ReminderWorkflow, reminder_workflow_id

INITIATE = CallInitiate(
    phone_number="+33612345678",
    bot_company="Contoso",
    bot_name="Amélie",
    agent_phone_number="+33698765432",
)


@dataclass
class Env:
    env: WorkflowEnvironment
    client: Client
    settings: Settings
    store: CallStore

    async def call_with(self, reminder: Reminder) -> str:
        """A finished call in the store that promised `reminder`."""
        call_id = str(uuid.uuid4())
        now = await self.env.get_current_time()
        await self.store.save(
            CallState(call_id=call_id, created_at=now, initiate=INITIATE, reminders=[reminder])
        )
        return call_id

    async def start(
        self, call_id: str, reminder: Reminder, **options: float
    ) -> WorkflowHandle[ReminderWorkflow, Reminder]:
        request = ReminderInput(call_id=call_id, reminder=reminder, initiate=INITIATE, **options)
        return await self.client.start_workflow(
            ReminderWorkflow.run,
            request,
            id=reminder_workflow_id(call_id, reminder.title),
            task_queue=self.settings.temporal.task_queue,
        )

    async def reminder(self, handle: WorkflowHandle[ReminderWorkflow, Reminder]) -> Reminder:
        return await handle.query(ReminderWorkflow.get_reminder)


async def running_env(
    time_skipping_env: WorkflowEnvironment,
    redis_url: str,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
    **overrides: object,
) -> AsyncIterator[Env]:
    settings = make_settings(tmp_path, redis_url, scripted_llm, "unused:0")
    if overrides:
        settings = Settings.model_validate({**settings.model_dump(), **overrides})
    client = time_skipping_env.client
    async with AsyncExitStack() as stack:
        worker = await build_worker(client, settings, stack)
        store = await open_store(settings.store)
        stack.push_async_callback(store.close)
        task = asyncio.create_task(worker.run())
        try:
            yield Env(time_skipping_env, client, settings, store)
        finally:
            await worker.shutdown()
            await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
async def env(
    time_skipping_env: WorkflowEnvironment,
    redis_url: str,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
) -> AsyncIterator[Env]:
    async for running in running_env(time_skipping_env, redis_url, scripted_llm, tmp_path):
        yield running


async def due_in(env: Env, delta: timedelta, owner: str | None = "customer") -> Reminder:
    now = await env.env.get_current_time()
    return Reminder(
        created_at=now,
        title="Call back about the repair quote",
        description="Tell the customer the garage's quote.",
        due_date_time=now + delta,
        owner=owner,
    )


async def test_a_reminder_due_in_two_days_texts_its_owner(env: Env) -> None:
    reminder = await due_in(env, timedelta(days=2))
    call_id = await env.call_with(reminder)
    handle = await env.start(call_id, reminder)
    started = await env.env.get_current_time()
    done = await asyncio.wait_for(handle.result(), 30)
    assert done.status == "sent" and done.attempts == 1
    assert (await env.env.get_current_time()) - started >= timedelta(days=2)
    sms = OutboxSms(env.settings.sms.outbox_path).read()
    assert sms[-1]["to"] == "+33612345678"
    assert sms[-1]["body"].startswith("Reminder: Call back about the repair quote.")
    stored = await env.store.get(call_id)
    assert stored is not None and stored.reminders[0].status == "sent"  # shown in the report


async def test_the_bot_calls_back_when_it_owns_the_reminder(env: Env) -> None:
    reminder = await due_in(env, timedelta(hours=20), owner="assistant")
    call_id = await env.call_with(reminder)
    done = await asyncio.wait_for((await env.start(call_id, reminder)).result(), 30)
    assert done.status == "sent"
    follow_up = env.client.get_workflow_handle_for(
        CallWorkflow.run, f"call-{follow_up_call_id(call_id, reminder)}"
    )
    state = await follow_up.query(CallWorkflow.get_state)
    assert state.follow_up_of == call_id
    assert "Call back about the repair quote" in state.initiate.task


async def test_an_update_reschedules_and_a_cancel_stops(env: Env) -> None:
    reminder = await due_in(env, timedelta(days=1))
    call_id = await env.call_with(reminder)
    handle = await env.start(call_id, reminder)
    later = reminder.model_copy(
        update={"due_date_time": reminder.due_date_time + timedelta(days=3)}
    )
    await handle.signal(
        ReminderWorkflow.reschedule,
        ReminderInput(call_id=call_id, reminder=later, initiate=INITIATE),
    )
    await env.env.sleep(timedelta(days=2))  # past the first due time
    current = await env.reminder(handle)
    assert current.status == "scheduled" and current.due_date_time == later.due_date_time
    assert OutboxSms(env.settings.sms.outbox_path).read() == []
    await handle.signal(ReminderWorkflow.cancel)
    done = await asyncio.wait_for(handle.result(), 30)
    assert done.status == "cancelled" and done.attempts == 0
    assert OutboxSms(env.settings.sms.outbox_path).read() == []


async def test_a_failing_follow_up_retries_with_backoff_then_fails(
    time_skipping_env: WorkflowEnvironment,
    redis_url: str,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
) -> None:
    # The SMS outbox is a directory: every send really fails (IsADirectoryError).
    outbox = tmp_path / "outbox-is-a-directory"
    outbox.mkdir()
    async for env in running_env(
        time_skipping_env, redis_url, scripted_llm, tmp_path, sms={"outbox_path": outbox}
    ):
        reminder = await due_in(env, timedelta(hours=1))
        call_id = await env.call_with(reminder)
        handle = await env.start(
            call_id, reminder, max_attempts=4, first_retry_sec=60, max_retry_sec=600
        )
        done = await asyncio.wait_for(handle.result(), 30)
        assert done.status == "failed" and done.attempts == 4
        assert "Is a directory" in (done.last_error or "")
        history = [e async for e in handle.fetch_history_events()]
        timers = [
            e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
            for e in history
            if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
        ]
        # The wait until due, then the exponential backoff between the 4 attempts.
        assert timers[1:] == [timedelta(seconds=60), timedelta(seconds=120), timedelta(seconds=240)]
        attempts = [
            e
            for e in history
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and e.activity_task_scheduled_event_attributes.activity_type.name == "follow_up"
        ]
        assert len(attempts) == 4
        stored = await env.store.get(call_id)
        assert stored is not None
        assert (stored.reminders[0].status, stored.reminders[0].attempts) == ("failed", 4)


async def test_a_completed_claim_cancels_open_reminders(stack: Stack) -> None:
    call_id = await stack.start_call(claim=[{"name": "incident_location", "type": "text"}])
    stack.llm.state.add(
        ScriptedReply(
            tool_calls=[
                ScriptedToolCall(
                    name="new_or_updated_reminder",
                    arguments={
                        "title": "Collect the missing details",
                        "description": "Call back for the rest of the claim",
                        # Days ahead of the real clock (this stack runs in real time).
                        "due_date_time": f"{datetime.now(UTC).date() + timedelta(days=5)} 10:00",
                        "owner": "assistant",
                    },
                )
            ]
        ),
        ScriptedReply(text="I will call you back for the rest."),
        ScriptedReply(
            tool_calls=[
                ScriptedToolCall(
                    name="updated_claim",
                    arguments={
                        "updates": [
                            {"field": "incident_location", "value": "Lyon"},
                            {"field": "policyholder_name", "value": "Jean Dupont"},
                            {"field": "policyholder_email", "value": "jean@example.com"},
                            {"field": "policyholder_phone", "value": "+33612345678"},
                        ]
                    },
                )
            ]
        ),
        ScriptedReply(text="Your claim is complete."),
        user=call_id,
    )
    await stack.say(call_id, "I have to go, call me back.")
    handle = stack.client.get_workflow_handle_for(
        ReminderWorkflow.run, reminder_workflow_id(call_id, "Collect the missing details")
    )
    assert (await handle.query(ReminderWorkflow.get_reminder)).status == "scheduled"
    await stack.say(call_id, "Actually: Lyon, Jean Dupont, jean@example.com, +33612345678.")
    done = await asyncio.wait_for(handle.result(), 15)
    assert done.status == "cancelled" and done.attempts == 0
    state = await stack.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}").query(
        CallWorkflow.get_state
    )
    assert state.reminders[0].status == "cancelled"
