"""The call's webhooks and usage: the part of `CallWorkflow` that tells the customer's systems
what happened (`call.started`, `call.connected`, `call.ended`, `call.analyzed`) and prices the
call when it ends. Mixed into the workflow class; everything here runs inside the workflow.

An event is enqueued in the background (`WebhookOutbox`): the caller's turn never waits for it,
and the workflow awaits the enqueueing only before it closes or continues as new.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import JsonValue
from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.usage import UsageActivities
    from domain.call import Action, Reminder
    from domain.usage import PriceCallInput, measure
    from domain.webhooks import (
        EventType,
        WebhookEvent,
        event_id,
        public_usage,
        reminder_event,
    )
    from workflows import patches, policies
    from workflows.call_base import CallBase
    from workflows.webhooks import WebhookOutbox

# What follows the pricing at the end of the call: the post-call activity, the second pricing,
# two webhook starts (2 actions each), the saves (local activities); after the second pricing:
# one webhook start and the last save.
ACTIONS_AFTER_PRICING = 7
ACTIONS_AFTER_REPRICING = 3


class CallWebhooks(CallBase):
    """Webhook events and the usage's price, for `CallWorkflow`."""

    _webhook_outbox: WebhookOutbox | None = None
    _post_call_before: datetime | None = None  # when post-call last ran, as the call ended

    @property
    def _webhooks(self) -> WebhookOutbox:
        if self._webhook_outbox is None:
            self._webhook_outbox = WebhookOutbox()
        return self._webhook_outbox

    def _send_webhook(self, type: EventType, seq: int = 0, **data: JsonValue) -> None:
        """Enqueue a call event for the customer's endpoints (not awaited here)."""
        if not workflow.patched(patches.WEBHOOKS):
            return
        call = self.call
        self._webhooks.send(
            WebhookEvent(
                id=event_id(call.call_id, type, seq),
                type=type,
                occurred_at=workflow.now(),
                call_id=call.call_id,
                data=data,
                url=call.initiate.webhook_url,
            )
        )

    def _reminder_webhook(self, reminder: Reminder) -> None:
        """`reminder.scheduled`: the bot promised a follow-up (the later `reminder.*` events
        are its `ReminderWorkflow`'s)."""
        if not workflow.patched(patches.WEBHOOKS):
            return
        call = self.call
        self._webhooks.send(
            reminder_event(
                call.call_id,
                "reminder.scheduled",
                workflow.now(),
                title=reminder.title,
                due=reminder.due_date_time,
                url=call.initiate.webhook_url,
                description=reminder.description,
            )
        )

    def _count(self, action: Action) -> int:
        """How many times the call did `action` (CALL: each connection; HANGUP: each end),
        the sequence number of an event that can happen more than once."""
        return max(0, sum(1 for m in self.call.messages if m.action is action) - 1)

    def _connected_webhook(self) -> None:
        self.call.usage.line_connected(workflow.now(), self.call.direction)
        self._send_webhook("call.connected", self._count(Action.CALL))

    async def _ended_webhook(self) -> None:
        """The call has ended: price its usage, save, then send `call.ended` (its data is read
        from the store when delivered)."""
        self._post_call_before = self.call.post_call_at
        await self._price_usage(ACTIONS_AFTER_PRICING)
        if workflow.patched(patches.WEBHOOKS):
            await self._save()
            # The cost as the call ended is a fact of the event (counters, no personal data):
            # a late delivery still says it, not the cost after post-call.
            usage = public_usage(self.call.usage)
            self._send_webhook("call.ended", self._count(Action.HANGUP), usage=usage)

    async def _analyzed_webhook(self) -> None:
        """After post-call: the usage priced again (its tokens, the SMS summary), saved, then
        `call.analyzed` with the synthesis and next action."""
        if self.call.post_call_at == self._post_call_before:
            return  # no post-call in this run
        if workflow.patched(patches.USAGE_AFTER_POST_CALL):
            await self._price_usage(ACTIONS_AFTER_REPRICING)
            await self._save()
        if self.call.synthesis is not None or self.call.next is not None:
            self._send_webhook("call.analyzed", self._count(Action.HANGUP))

    async def _price_usage(self, actions_after: int) -> None:
        if not workflow.patched(patches.USAGE_COST):
            return
        call = self.call
        usage = measure(call, workflow.now())
        info = workflow.info()
        try:
            call.usage = await workflow.execute_activity_method(
                UsageActivities.price_call,
                PriceCallInput(
                    workflow_id=info.workflow_id,
                    run_id=info.run_id,
                    usage=usage,
                    phone=call.channel == "phone",
                    actions_after=actions_after,
                ),
                start_to_close_timeout=policies.QUICK,
                retry_policy=policies.QUICK_RETRY,
            )
        except ActivityError as exc:
            workflow.logger.warning("usage not priced: %s", exc.cause)
            call.usage = usage  # the counters at least
