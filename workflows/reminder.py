"""`ReminderWorkflow`: one per reminder. Sleeps on a durable timer until the reminder is due,
then carries out the follow-up (a call back by the bot, or an SMS), retrying with exponential
backoff up to a bounded number of attempts. Each attempt and wait shows in the Temporal UI.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.reminders import ReminderActivities
    from domain.call import Reminder, ReminderStatus
    from domain.contracts import (
        FollowUpInput,
        ReminderInput,
        ReminderStatusUpdate,
    )
    from domain.phone import mask
    from workflows import policies

FOLLOW_UP_TIMEOUT = timedelta(minutes=2)


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

    @workflow.signal
    def reschedule(self, input: ReminderInput) -> None:
        """The bot updated the reminder (same title): new due time and text."""
        self.input = input
        self.reminder = input.reminder.model_copy(
            update={"status": "scheduled", "attempts": 0, "last_error": None}
        )
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
        """Try the follow-up; None when rescheduled meanwhile (the caller starts over)."""
        backoff = timedelta(seconds=self.input.first_retry_sec)
        for attempt in range(1, self.input.max_attempts + 1):
            self.reminder.attempts = attempt
            try:
                result = await workflow.execute_activity_method(
                    ReminderActivities.follow_up,
                    FollowUpInput(
                        call_id=self.input.call_id,
                        reminder=self.reminder,
                        initiate=self.input.initiate,
                        claim=self.input.claim,
                        attempt=attempt,
                    ),
                    start_to_close_timeout=FOLLOW_UP_TIMEOUT,
                    # One try per attempt: the attempts, their backoff and their count are this
                    # workflow's, so the status can say "retrying, attempt 2".
                    retry_policy=RetryPolicy(maximum_attempts=1),
                )
            except ActivityError as exc:
                self.reminder.last_error = str(exc.cause or exc)[:500]
                if attempt == self.input.max_attempts:
                    return await self._finish("failed")
                self.reminder.status = "retrying"
                await self._report()
                if await self._wait(backoff):
                    if self._cancelled:
                        return await self._finish("cancelled")
                    return None
                backoff = min(backoff * 2, timedelta(seconds=self.input.max_retry_sec))
                continue
            workflow.logger.info("reminder %s done: %s", self.reminder.title, result.detail)
            return await self._finish("sent")
        return await self._finish("failed")  # pragma: no cover - the loop always returns

    async def _finish(self, status: ReminderStatus) -> Reminder:
        self.reminder.status = status
        self.reminder.done_at = workflow.now()
        await self._report()
        return self.reminder

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
            ),
            start_to_close_timeout=policies.QUICK,
            retry_policy=policies.SAVE_RETRY,
        )

    def _show(self) -> None:
        reminder = self.reminder
        workflow.set_current_details(
            f"**{reminder.status}** · attempt {reminder.attempts}/{self.input.max_attempts}"
            f" · due {reminder.due_date_time.isoformat()}\n\n{reminder.description}"
            + (f"\n\nlast error: {reminder.last_error}" if reminder.last_error else "")
        )


def reminder_summary(input: ReminderInput) -> str:
    reminder = input.reminder
    return (
        f"Reminder “{reminder.title}” for {mask(input.initiate.phone_number)}, "
        f"due {reminder.due_date_time.isoformat(timespec='minutes')}"
    )
