"""Reminders: scheduling their workflows, carrying out the follow-up, reporting progress."""

from __future__ import annotations

import json
import logging
import uuid

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from core.settings import Settings
from core.temporal import WORKFLOW_TASK_TIMEOUT
from domain import attributes
from domain.call import CallInitiate, Reminder
from domain.contracts import (
    CallInput,
    CancelRemindersInput,
    FollowUpInput,
    FollowUpResult,
    ReminderStatusUpdate,
    ScheduleReminderInput,
)
from providers.sms.base import SmsSender
from providers.store.base import CallStore

log = logging.getLogger(__name__)

BOT_OWNERS = {"", "assistant", "bot", "ai"}
CUSTOMER_OWNERS = {"customer", "client", "caller", "policyholder"}


def follow_up_call_id(call_id: str, reminder: Reminder, dial: int = 1) -> str:
    """One follow-up call per reminder due time and call back (`dial`, 1 + the unanswered
    ones before it): a retried attempt of the same call back finds it already placed."""
    key = f"{call_id}/{reminder.title}/{reminder.due_date_time.isoformat()}"
    if dial > 1:  # the first keeps the id it had before unanswered calls were retried
        key = f"{key}/{dial}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, key))


class ReminderActivities:
    def __init__(
        self, client: Client, store: CallStore, sms: SmsSender, settings: Settings
    ) -> None:
        self._client = client
        self._store = store
        self._sms = sms
        self._settings = settings

    @activity.defn(name="schedule_reminder")
    async def schedule_reminder(self, input: ScheduleReminderInput) -> str:
        """Start the reminder's workflow, or reschedule the running one (signal-with-start)."""
        from workflows.reminder import ReminderWorkflow, reminder_summary, reminder_workflow_id

        retries = self._settings.reminders
        reminder = input.reminder.model_copy(
            update={
                "max_attempts": retries.max_attempts,
                "first_retry_sec": retries.first_retry_sec,
                "max_retry_sec": retries.max_retry_sec,
                "retry": retries.retry,
            }
        )
        workflow_id = reminder_workflow_id(reminder.call_id, reminder.reminder.title)
        await self._client.start_workflow(
            ReminderWorkflow.run,
            reminder,
            id=workflow_id,
            task_queue=self._settings.temporal.task_queue,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
            start_signal="reschedule",
            start_signal_args=[reminder],
            static_summary=reminder_summary(reminder),
        )
        return workflow_id

    @activity.defn(name="cancel_reminders")
    async def cancel_reminders(self, input: CancelRemindersInput) -> None:
        from workflows.reminder import ReminderWorkflow, reminder_workflow_id

        for title in input.titles:
            handle = self._client.get_workflow_handle(reminder_workflow_id(input.call_id, title))
            try:
                await handle.signal(ReminderWorkflow.cancel)
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise  # already done or gone: nothing left to cancel

    @activity.defn(name="follow_up")
    async def follow_up(self, input: FollowUpInput) -> FollowUpResult:
        """Do what the reminder promised: call the customer back, or text its owner."""
        owner = (input.reminder.owner or "").strip().lower()
        if owner in BOT_OWNERS or owner == input.initiate.bot_name.lower():
            return await self._call_back(input)
        if owner in CUSTOMER_OWNERS:
            to = input.claim.get("policyholder_phone") or input.initiate.phone_number
        else:
            to = input.initiate.agent_phone_number  # a human owner: the agent line
        body = (
            f"Reminder: {input.reminder.title}. {input.reminder.description} (call {input.call_id})"
        )
        result = await self._sms.send(to, body[:1_600], call_id=input.call_id)
        return FollowUpResult(kind="sms", detail=f"SMS {result.message_id} to {to}")

    async def _call_back(self, input: FollowUpInput) -> FollowUpResult:
        from workflows.call import CallWorkflow

        call_id = follow_up_call_id(input.call_id, input.reminder, input.dial)
        task = (
            f"{input.initiate.task}\n\nThis is a follow-up call you promised: "
            f"{input.reminder.title}. {input.reminder.description}\n"
            f"Collected on the previous call: {json.dumps(input.claim, ensure_ascii=False)}"
        )
        initiate = CallInitiate.model_validate(
            {**input.initiate.model_dump(), "task": task[:4_000]}
        )
        phone = self._settings.telephony.kind != "none"
        try:
            await self._client.start_workflow(
                CallWorkflow.run,
                CallInput(
                    call_id=call_id,
                    initiate=initiate,
                    channel="phone" if phone else "chat",
                    follow_up_of=input.call_id,
                ),
                id=attributes.workflow_id_for(call_id),
                task_queue=self._settings.temporal.task_queue,
                task_timeout=WORKFLOW_TASK_TIMEOUT,
                static_summary=f"Follow-up call: {input.reminder.title}",
                search_attributes=attributes.keyed_phone(
                    self._settings.temporal.codec.phone_key(initiate.phone_number)
                ),
            )
        except WorkflowAlreadyStartedError:
            log.info("follow-up call %s already placed", call_id)
        return FollowUpResult(
            kind="call",
            detail=f"follow-up call {call_id}",
            channel="phone" if phone else "chat",
            call_id=call_id,
        )

    @activity.defn(name="report_reminder")
    async def report_reminder(self, input: ReminderStatusUpdate) -> None:
        """Tell the call (if it still runs) or its stored copy how the reminder is doing."""
        from workflows.call import CallWorkflow

        handle = self._client.get_workflow_handle_for(
            CallWorkflow.run, attributes.workflow_id_for(input.call_id)
        )
        try:
            await handle.signal(CallWorkflow.reminder_update, input)
            return
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        call = await self._store.get(input.call_id)
        if call is None:
            log.warning("reminder %s of unknown call %s", input.title, input.call_id)
            return
        for reminder in call.reminders:
            if reminder.title.strip().lower() == input.title.strip().lower():
                reminder.status = input.status
                reminder.attempts = input.attempts
                reminder.last_error = input.last_error
                reminder.last_outcome = input.last_outcome
                if input.status in ("sent", "failed", "cancelled"):
                    reminder.done_at = input.at
        await self._store.save(call)
