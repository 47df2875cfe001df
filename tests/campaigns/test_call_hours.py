"""A call's own calling window (`POST /call` `calling_hours`), on the time-skipping test server:
an outbound call placed outside it waits (durable timer) for the next opening in the callee's
zone before dialling (the whole phone stack, the ACS emulator), and its reminders' call backs
wait for the same window."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from activities.reminders import follow_up_call_id
from domain.call import CallInitiate, CallState, Reminder
from domain.calling_hours import CallingWindow, next_open
from domain.contracts import ReminderInput
from scripted_llm.runner import ScriptedLlmServer
from tests.after_call.test_reminders import running_env
from tests.campaigns.harness import answering_people
from tests.telephony.test_phone_calls import ONE_LANGUAGE, Phone
from workflows.call import CallWorkflow
from workflows.reminder import ReminderWorkflow, reminder_workflow_id

PARIS = ZoneInfo("Europe/Paris")  # +33 numbers
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


async def test_a_call_placed_outside_its_window_dials_when_it_opens(
    phone: Phone, time_skipping_env: WorkflowEnvironment
) -> None:
    now = await time_skipping_env.get_current_time()
    opens = min((now.astimezone(PARIS) + timedelta(hours=3)).hour, 22)
    window = CallingWindow(days=EVERY_DAY, start=f"{opens:02d}:00", end=f"{opens + 1:02d}:00")
    expected = next_open(now, window, PARIS)
    assert expected - now > timedelta(hours=1)
    async with answering_people(phone.phones, phone.api, {}):
        call_id = await phone.call(lang=ONE_LANGUAGE, calling_hours=window.model_dump(mode="json"))
        handle = phone.client.get_workflow_handle(f"call-{call_id}")
        # Nothing rings while the window is shut (real time, before time is skipped).
        await asyncio.sleep(0.5)
        assert await phone.phones.calls() == []
        state = (await phone.api.get(f"/call/{call_id}")).json()["call"]
        assert state["initiate"]["calling_hours"]["start"] == f"{opens:02d}:00"
        # The server skips time while nothing runs: the timer fires, the call rings.
        async with time_skipping_env.time_skipping_unlocked():  # type: ignore[attr-defined]
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 40
            while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                assert loop.time() < deadline, "the call did not end"
                await asyncio.sleep(0.1)
    assert len(await phone.phones.calls()) == 1
    events = [e async for e in handle.fetch_history_events()]
    timers = [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        for e in events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    # The first timer is the wait for the window, to the second.
    assert abs(timers[0] - (expected - now)) < timedelta(seconds=30), (timers[0], expected - now)
    dialled = next(
        e.event_time.ToDatetime(tzinfo=PARIS)
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "connect_call"
    )
    assert expected <= dialled < expected + timedelta(minutes=5), dialled


async def test_a_reminders_call_back_waits_for_the_calls_window(
    time_skipping_env: WorkflowEnvironment,
    redis_url: str,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
) -> None:
    # No deployment window: only the call's own (11:00 to 12:00, weekdays and weekends).
    async for env in running_env(time_skipping_env, redis_url, scripted_llm, tmp_path):
        window = CallingWindow(days=EVERY_DAY, start="11:00", end="12:00")
        initiate = CallInitiate(
            phone_number="+33612345678",
            bot_company="Contoso",
            bot_name="Amélie",
            agent_phone_number="+33698765432",
            calling_hours=window,
        )
        now = await env.env.get_current_time()
        evening = datetime.combine(
            now.astimezone(PARIS).date() + timedelta(days=1), time(18, 0), PARIS
        )
        reminder = Reminder(
            created_at=now,
            title="Call back with the quote",
            due_date_time=evening,
            owner="assistant",  # the bot calls back
        )
        call_id = str(uuid.uuid4())
        await env.store.save(
            CallState(call_id=call_id, created_at=now, initiate=initiate, reminders=[reminder])
        )
        handle = await env.client.start_workflow(
            ReminderWorkflow.run,
            ReminderInput(call_id=call_id, reminder=reminder, initiate=initiate),
            id=reminder_workflow_id(call_id, reminder.title),
            task_queue=env.settings.temporal.task_queue,
        )
        done = await asyncio.wait_for(handle.result(), 30)
        assert done.status == "sent" and done.attempts == 1
        follow_up = env.client.get_workflow_handle_for(
            CallWorkflow.run, f"call-{follow_up_call_id(call_id, reminder)}"
        )
        state = await follow_up.query(CallWorkflow.get_state)
        # Due at 18:00, past the call's window: placed when it next opens, 11:00 the day after.
        morning = datetime.combine(evening.date() + timedelta(days=1), time(11, 0), PARIS)
        assert morning <= state.created_at < morning + timedelta(minutes=5), state.created_at
        assert state.initiate.calling_hours == window  # the call back keeps the window
