"""`ReminderWorkflow`: one per reminder. Sleeps on a durable timer until the reminder is due,
then carries out the follow-up (a call back by the bot, or an SMS), retrying with exponential
backoff up to a bounded number of attempts. A phone call back is watched to its end: answered by
a person it completes the reminder, unanswered it is called again per its outcome
(`reminders.retry`). Each attempt and wait shows in the Temporal UI.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.campaign import WATCH_HEARTBEAT, CampaignActivities
    from activities.campaign_hours import CallingHoursActivities, CallingSlotInput
    from activities.reminders import BOT_OWNERS, ReminderActivities, follow_up_call_id
    from domain.call import Reminder, ReminderStatus
    from domain.campaign import WatchInput
    from domain.contracts import (
        FollowUpInput,
        ReminderInput,
        ReminderStatusUpdate,
    )
    from domain.outcome import CallOutcome
    from domain.phone import mask, timezone_for
    from domain.reminder_retry import ANSWERED_OUTCOMES, ReminderRetryRules
    from domain.webhooks import EventType, reminder_event
    from workflows import patches, policies
    from workflows.webhooks import WebhookOutbox

FOLLOW_UP_TIMEOUT = timedelta(minutes=2)
# A call back's end is awaited this long at most (a call of hours is unheard of; a call stuck
# past it counts as failed). The activity heartbeats while it polls the stored call.
CALL_END_TIMEOUT = timedelta(hours=6)
CALL_END_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
)
# The event each final status sends (patch `reminder-webhooks`).
FINAL_EVENTS: dict[ReminderStatus, EventType] = {
    "sent": "reminder.completed",
    "failed": "reminder.failed",
    "cancelled": "reminder.cancelled",
}


def reminder_workflow_id(call_id: str, title: str) -> str:
    """Stable per (call, title): updating a reminder reaches the same workflow."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.strip().lower()).strip("-")[:40] or "reminder"
    digest = hashlib.sha256(title.strip().lower().encode()).hexdigest()[:8]
    return f"reminder-{call_id}-{slug}-{digest}"


@workflow.defn
class ReminderWorkflow:
    @workflow.init
    def __init__(self, input: ReminderInput) -> None:
        self.input = input
        self.reminder = input.reminder.model_copy()
        self._changed = False
        self._cancelled = False
        self._webhooks = WebhookOutbox()
        self._events = False  # decided at the start of the run (patch `reminder-webhooks`)
        self._outcomes: bool | None = None  # patch `reminder-call-outcome`, once decided
        # Call backs placed so far for this due time, and the retries spent per outcome.
        self._dial = 1
        self._retried: dict[str, int] = {}

    @workflow.signal
    def reschedule(self, input: ReminderInput) -> None:
        """The bot updated the reminder (same title): new due time and text."""
        self.input = input
        self.reminder = input.reminder.model_copy(
            update={"status": "scheduled", "attempts": 0, "last_error": None}
        )
        self._dial = 1
        self._retried = {}
        self._changed = True

    @workflow.signal
    def cancel(self) -> None:
        self._cancelled = True

    @workflow.query(name="reminder")
    def get_reminder(self) -> Reminder:
        return self.reminder

    @workflow.run
    async def run(self, input: ReminderInput) -> Reminder:
        del input  # read by __init__ (and replaced by reschedule)
        # Decided before any command: a history recorded before the patch replays without it.
        self._events = workflow.patched(patches.REMINDER_WEBHOOKS)
        while True:
            self._changed = False
            self._show()
            if await self._wait(self.reminder.due_date_time - workflow.now()):
                if self._cancelled:
                    return await self._finish("cancelled")
                continue  # rescheduled before it was due
            outcome = await self._attempts()
            if outcome is not None:
                return outcome

    async def _wait(self, delay: timedelta) -> bool:
        """Sleep for `delay` on a durable timer; True when cancelled or rescheduled first."""
        if self._changed or self._cancelled:
            return True
        if delay <= timedelta(0):
            return False
        try:
            await workflow.wait_condition(lambda: self._changed or self._cancelled, timeout=delay)
        except TimeoutError:
            return False
        return True

    async def _attempts(self) -> Reminder | None:
        """Try the follow-up; None when rescheduled meanwhile (the caller starts over).

        Two kinds of retry: a follow-up that could not be carried out (the activity failed)
        backs off exponentially, `max_attempts` tries in all; a phone call back that ended
        unanswered is placed again after its outcome's delay (`ReminderRetryRules`). Both count
        in `attempts`, the status the call's report shows."""
        backoff = timedelta(seconds=self.input.first_retry_sec)
        attempt = errors = 0
        while True:
            if await self._until_calling_hours():
                if self._cancelled:
                    return await self._finish("cancelled")
                return None
            attempt += 1
            self.reminder.attempts = attempt
            self._event("reminder.fired", kind="call" if self._calls_back() else "sms")
            try:
                result = await workflow.execute_activity_method(
                    ReminderActivities.follow_up,
                    FollowUpInput(
                        call_id=self.input.call_id,
                        reminder=self.reminder,
                        initiate=self.input.initiate,
                        claim=self.input.claim,
                        attempt=attempt,
                        dial=self._dial,
                    ),
                    start_to_close_timeout=FOLLOW_UP_TIMEOUT,
                    # One try per attempt: the attempts, their backoff and their count are this
                    # workflow's, so the status can say "retrying, attempt 2".
                    retry_policy=RetryPolicy(maximum_attempts=1),
                )
            except ActivityError as exc:
                self.reminder.last_error = str(exc.cause or exc)[:500]
                errors += 1
                if errors >= self.input.max_attempts:
                    return await self._finish("failed")
                self.reminder.status = "retrying"
                await self._report()
                if await self._wait(backoff):
                    if self._cancelled:
                        return await self._finish("cancelled")
                    return None
                backoff = min(backoff * 2, timedelta(seconds=self.input.max_retry_sec))
                continue
            # The call back's own `call.*` events (with its outcome) name the reminder's call
            # in `follow_up_of`; this one names the call back. `detail` may hold a number.
            facts: dict[str, str] = {"kind": result.kind}
            if result.kind == "call":
                facts["follow_up_call_id"] = follow_up_call_id(
                    self.input.call_id, self.reminder, self._dial
                )
            # Only a phone call back can go unanswered (a chat one waits for the customer).
            if result.channel == "phone" and result.call_id and self._watches_outcome():
                outcome = await self._call_outcome(result.call_id)
                self.reminder.last_outcome = outcome.value
                facts["outcome"] = outcome.value
                if outcome in ANSWERED_OUTCOMES:
                    return await self._finish("sent", **facts)
                if self._cancelled:
                    return await self._finish("cancelled", **facts)
                if self._changed:  # rescheduled during the call: the new due time's turn
                    return None
                rules = self.input.retry or ReminderRetryRules()
                delay = rules.delay_after(outcome, self._retried.get(outcome.value, 0))
                if delay is None:  # retries spent, or an outcome not retried (rejected...)
                    self.reminder.last_error = f"call back {outcome.value}"
                    return await self._finish("failed", **facts)
                self._retried[outcome.value] = self._retried.get(outcome.value, 0) + 1
                self._dial += 1
                self.reminder.status = "retrying"
                await self._report()
                workflow.logger.info(
                    "reminder %s: call back %s, again in %ss",
                    self.reminder.title,
                    outcome.value,
                    delay,
                )
                if await self._wait(timedelta(seconds=delay)):
                    if self._cancelled:
                        return await self._finish("cancelled")
                    return None
                continue
            workflow.logger.info("reminder %s done: %s", self.reminder.title, result.detail)
            return await self._finish("sent", **facts)

    def _watches_outcome(self) -> bool:
        """Patch `reminder-call-outcome`, decided at the first phone call back's end: a
        history recorded before it went on to `_finish("sent")` there and replays so."""
        if self._outcomes is None:
            self._outcomes = workflow.patched(patches.REMINDER_CALL_OUTCOME)
        return self._outcomes

    async def _call_outcome(self, call_id: str) -> CallOutcome:
        """How the call back ended, from its stored state (the activity campaigns use): the
        call's workflow outlives the call (it waits for a call back), so its result is no
        signal. A call not seen ending counts as failed."""
        workflow.set_current_details(
            f"**calling** · attempt {self.reminder.attempts}"
            f" · call back {self._dial}\n\n{self.reminder.description}"
        )
        try:
            end = await workflow.execute_activity_method(
                CampaignActivities.watch_call,
                WatchInput(call_id=call_id),
                start_to_close_timeout=CALL_END_TIMEOUT,
                schedule_to_close_timeout=CALL_END_TIMEOUT,
                heartbeat_timeout=WATCH_HEARTBEAT,
                retry_policy=CALL_END_RETRY,
            )
        except ActivityError as exc:
            workflow.logger.warning("call back %s not seen ending: %s", call_id, exc.cause)
            return CallOutcome.FAILED
        return end.outcome

    def _calls_back(self) -> bool:
        """The follow-up is a call by the bot (as `ReminderActivities.follow_up` decides)."""
        owner = (self.reminder.owner or "").strip().lower()
        return owner in BOT_OWNERS or owner == self.input.initiate.bot_name.lower()

    async def _until_calling_hours(self) -> bool:
        """A call back waits (durable timer) for the callee's calling hours, in the zone of
        their number; True when rescheduled or cancelled meanwhile."""
        if not self._calls_back() or not workflow.patched(patches.REMINDER_CALLING_HOURS):
            return False
        tz = timezone_for(self.input.initiate.phone_number)
        while True:
            slot = await workflow.execute_activity_method(
                CallingHoursActivities.calling_slot,
                # The call's own window when it has one (an activity input: replays as before).
                CallingSlotInput(
                    tz=tz, at=workflow.now(), window=self.input.initiate.calling_hours
                ),
                start_to_close_timeout=policies.QUICK,
                retry_policy=policies.SAVE_RETRY,
            )
            wait = slot.opens_at - workflow.now()
            if wait <= timedelta(0):
                return False
            workflow.set_current_details(
                f"**waiting for calling hours** · calls at {slot.opens_at.isoformat()}"
                f" ({tz})\n\n{self.reminder.description}"
            )
            if await self._wait(wait):
                return True

    async def _finish(self, status: ReminderStatus, **facts: str) -> Reminder:
        self.reminder.status = status
        self.reminder.done_at = workflow.now()
        await self._report()
        self._event(FINAL_EVENTS[status], **facts)
        await self._webhooks.flush()  # every event enqueued before the workflow closes
        return self.reminder

    def _event(self, type: EventType, **facts: str) -> None:
        """A `reminder.*` event to the deployment's endpoints and the call's own `webhook_url`
        (enqueued in the background). Its id is the call's, the type's, and the reminder's
        title, due time and attempt: a replay or a retried task enqueues it once. Facts are
        ids and counts, never the callee's number or the error text (it may quote one)."""
        if not self._events:
            return
        reminder = self.reminder
        self._webhooks.send(
            reminder_event(
                self.input.call_id,
                type,
                workflow.now(),
                title=reminder.title,
                due=reminder.due_date_time,
                attempt=reminder.attempts,
                url=self.input.initiate.webhook_url,
                status=reminder.status,
                max_attempts=self.input.max_attempts,
                **facts,
            )
        )

    async def _report(self) -> None:
        self._show()
        await workflow.execute_activity_method(
            ReminderActivities.report_reminder,
            ReminderStatusUpdate(
                call_id=self.input.call_id,
                title=self.reminder.title,
                status=self.reminder.status,
                attempts=self.reminder.attempts,
                last_error=self.reminder.last_error,
                at=workflow.now(),
                last_outcome=self.reminder.last_outcome,
            ),
            start_to_close_timeout=policies.QUICK,
            retry_policy=policies.SAVE_RETRY,
        )

    def _show(self) -> None:
        reminder = self.reminder
        workflow.set_current_details(
            f"**{reminder.status}** · attempt {reminder.attempts}/{self.input.max_attempts}"
            f" · due {reminder.due_date_time.isoformat()}\n\n{reminder.description}"
            + (f" · last call back {reminder.last_outcome}" if reminder.last_outcome else "")
            + (f"\n\nlast error: {reminder.last_error}" if reminder.last_error else "")
        )


def reminder_summary(input: ReminderInput) -> str:
    reminder = input.reminder
    return (
        f"Reminder “{reminder.title}” for {mask(input.initiate.phone_number)}, "
        f"due {reminder.due_date_time.isoformat(timespec='minutes')}"
    )
