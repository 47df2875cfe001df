"""A reminder's call back that nobody answers does not count as done (patch
`reminder-call-outcome`): on the time-skipping test server with the whole phone stack (API,
worker, ACS emulator, media gateway), each call back is watched to its end, an unanswered one
is placed again after its outcome's delay (waiting for calling hours again), and the reminder
completes only when a person answers, or fails once the retries are spent."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.reminders import follow_up_call_id
from domain.call import CallInitiate, CallState, LanguageConfig, Reminder
from domain.calling_hours import CallingWindow, is_open, next_open
from domain.contracts import ReminderInput
from domain.reminder_retry import ReminderRetry, ReminderRetryRules
from tests.campaigns.harness import PhonePlan, answering_people
from tests.telephony.test_phone_calls import AGENT, ONE_LANGUAGE, Phone
from workflows.reminder import ReminderWorkflow, reminder_workflow_id

PARIS = ZoneInfo("Europe/Paris")  # +33 numbers
CALLEE = "+33612000111"
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


async def start_reminder(
    phone: Phone,
    env: WorkflowEnvironment,
    retry: ReminderRetryRules,
    window: CallingWindow | None = None,
) -> tuple[str, Reminder, WorkflowHandle[ReminderWorkflow, Reminder]]:
    """A finished call in the store that promised a call back by the bot, due now."""
    initiate = CallInitiate(
        phone_number=CALLEE,
        bot_company="Contoso",
        bot_name="Amélie",
        agent_phone_number=AGENT,
        lang=LanguageConfig.model_validate(ONE_LANGUAGE),
        calling_hours=window,
    )
    now = await env.get_current_time()
    reminder = Reminder(
        created_at=now,
        title="Call back with the quote",
        description="Give the customer the garage's quote.",
        due_date_time=now,
        owner="assistant",  # the bot calls back
    )
    call_id = str(uuid.uuid4())
    await phone.store.save(
        CallState(call_id=call_id, created_at=now, initiate=initiate, reminders=[reminder])
    )
    handle = await phone.client.start_workflow(
        ReminderWorkflow.run,
        ReminderInput(call_id=call_id, reminder=reminder, initiate=initiate, retry=retry),
        id=reminder_workflow_id(call_id, reminder.title),
        task_queue=phone.settings.temporal.task_queue,
    )
    return call_id, reminder, handle


async def until(
    handle: WorkflowHandle[ReminderWorkflow, Reminder],
    done: Callable[[Reminder], bool],
    timeout: float = 30,
) -> Reminder:
    """Real time, time skipping locked: the reminder's retry timer cannot fire meanwhile."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        current = await handle.query(ReminderWorkflow.get_reminder)
        if done(current):
            return current
        assert asyncio.get_running_loop().time() < deadline, current
        await asyncio.sleep(0.1)


async def waiting_to_retry(
    handle: WorkflowHandle[ReminderWorkflow, Reminder], timers: int, timeout: float = 30
) -> Reminder:
    """Real time: the reminder has started its `timers`-th retry timer, so that call back
    has ended and its outcome is in the state."""
    deadline = asyncio.get_running_loop().time() + timeout
    while len(await retry_timers(handle)) < timers:
        assert asyncio.get_running_loop().time() < deadline, await retry_timers(handle)
        await asyncio.sleep(0.1)
    return await handle.query(ReminderWorkflow.get_reminder)


async def dialled_at(phone: Phone, call_id: str, reminder: Reminder, dial: int) -> datetime:
    """When the reminder's `dial`-th call back was placed (server time: its stored state)."""
    call = await phone.store.get(follow_up_call_id(call_id, reminder, dial))
    assert call is not None, f"call back {dial} not placed"
    return call.created_at


async def retry_timers(handle: WorkflowHandle[ReminderWorkflow, Reminder]) -> list[timedelta]:
    return [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]


async def test_unanswered_twice_then_answered_completes_on_the_third_call(
    phone: Phone, time_skipping_env: WorkflowEnvironment
) -> None:
    env = time_skipping_env
    retry = ReminderRetryRules(no_answer=ReminderRetry(delay_sec=1_800, count=2))
    await phone.phones.add_phone(CALLEE, answer="never")
    call_id, reminder, handle = await start_reminder(phone, env, retry)
    # Time skipping stays locked (the env unlocks only for results it waits on): each retry
    # timer fires when this test sleeps past it, so the phone can be picked up in between.
    # Waiting on the retry timer, not on `attempts`: the attempt count goes up when the next
    # call back is placed, while the status still says "retrying" from the one before.
    first = await waiting_to_retry(handle, 1)
    assert first.attempts == 1 and first.last_outcome == "no_answer"  # not "sent"
    await env.sleep(timedelta(minutes=30))
    second = await waiting_to_retry(handle, 2)
    assert second.attempts == 2 and second.last_outcome == "no_answer"
    await phone.phones.add_phone(CALLEE, answer="auto")
    plans = {CALLEE: PhonePlan(CALLEE, "auto", says="Yes, go ahead, I'm listening.")}
    async with answering_people(phone.phones, phone.api, plans):
        await env.sleep(timedelta(minutes=30))
        done = await until(handle, lambda r: r.status != "retrying", timeout=40)
    assert done.status == "sent" and done.attempts == 3
    assert done.last_outcome == "caller_hung_up"  # answered, talked, then hung up
    assert len(await phone.phones.calls(CALLEE)) == 3
    # Spaced as configured: the reminder's own timers, and the dials' server times.
    assert await retry_timers(handle) == [timedelta(minutes=30)] * 2
    dials = [await dialled_at(phone, call_id, reminder, n) for n in (1, 2, 3)]
    for before, after in zip(dials, dials[1:], strict=False):
        assert timedelta(minutes=30) <= after - before < timedelta(minutes=32), dials
    # The call's report shows the reminder's attempts and last outcome.
    stored = await phone.store.get(call_id)
    assert stored is not None
    shown = stored.reminders[0]
    assert (shown.status, shown.attempts, shown.last_outcome) == ("sent", 3, "caller_hung_up")


async def test_never_answered_fails_after_the_configured_retries_in_calling_hours(
    phone: Phone, time_skipping_env: WorkflowEnvironment
) -> None:
    env = time_skipping_env
    now = await env.get_current_time()
    # The call's own window, at most an hour long: the 2 h retry falls outside it and waits
    # for the next day's opening, as the first call back waited for calling hours.
    opens = min(now.astimezone(PARIS).hour, 22)
    window = CallingWindow(days=EVERY_DAY, start=f"{opens:02d}:00", end=f"{opens + 1:02d}:00")
    retry = ReminderRetryRules(no_answer=ReminderRetry(delay_sec=7_200, count=1))
    await phone.phones.add_phone(CALLEE, answer="never")
    call_id, reminder, handle = await start_reminder(phone, env, retry, window)
    done = await asyncio.wait_for(handle.result(), 60)
    assert done.status == "failed" and done.attempts == 2  # the call back and one retry
    assert done.last_outcome == "no_answer"
    assert len(await phone.phones.calls(CALLEE)) == 2
    first, second = [await dialled_at(phone, call_id, reminder, n) for n in (1, 2)]
    assert is_open(first, window, PARIS) and is_open(second, window, PARIS)
    assert first - next_open(now, window, PARIS) < timedelta(minutes=2)
    due = first + timedelta(hours=2)
    assert (
        next_open(due, window, PARIS)
        <= second
        < next_open(due, window, PARIS) + timedelta(minutes=2)
    )
    assert timedelta(hours=2) in await retry_timers(handle)
    stored = await phone.store.get(call_id)
    assert stored is not None
    shown = stored.reminders[0]
    assert (shown.status, shown.attempts, shown.last_outcome) == ("failed", 2, "no_answer")
