"""`WebhookWorkflow`: delivers one event to every endpoint that wants it, retrying for days.

A workflow of its own, started by the sender (a call, a reminder, a campaign) through the
activity `enqueue_webhook` (`WebhookOutbox`): the sender neither waits for the receiver nor has
to stay open while a receiver is down, and the delivery survives worker crashes and the
sender's end. Its id is derived from
the event's `webhook-id`, so an event is enqueued once however often its sender is replayed or
retried; the receiver dedupes on the same id should an acknowledged attempt be retried.

Each attempt is one activity (no activity retries): the Temporal UI lists every attempt with
its error, and the wait before the next is a durable timer (the settings' `retry_delays_sec`,
±10 % jitter, at least the receiver's `Retry-After`). A 410 stops deliveries to that endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.webhooks import WebhookActivities
    from domain.webhooks import (
        DeliverInput,
        TargetReport,
        TargetsInput,
        WebhookEvent,
        WebhookPlan,
        WebhookReport,
        workflow_id,
    )
    from workflows import patches

ONE_ATTEMPT = RetryPolicy(maximum_attempts=1)
LOCAL_TIMEOUT = timedelta(seconds=10)
JITTER = 0.1
ENQUEUE_TIMEOUT = timedelta(seconds=30)
# Enqueueing only needs the Temporal server: retried until it answers.
ENQUEUE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1)
)


@workflow.defn
class WebhookWorkflow:
    def __init__(self) -> None:
        self._lines: dict[str, str] = {}

    @workflow.run
    async def run(self, event: WebhookEvent) -> WebhookReport:
        plan = await workflow.execute_local_activity_method(
            WebhookActivities.webhook_targets,
            TargetsInput(type=event.type, has_url=event.url is not None),
            start_to_close_timeout=LOCAL_TIMEOUT,
        )
        reports = await asyncio.gather(*(self._deliver(event, t, plan) for t in plan.targets))
        return WebhookReport(event_id=event.id, type=event.type, targets=list(reports))

    async def _deliver(self, event: WebhookEvent, target: str, plan: WebhookPlan) -> TargetReport:
        attempts = 0
        error: str | None = None
        while True:
            attempts += 1
            self._show(target, f"attempt {attempts}…")
            try:
                await workflow.execute_activity_method(
                    WebhookActivities.deliver_webhook,
                    DeliverInput(event=event, target=target, attempt=attempts),
                    start_to_close_timeout=timedelta(seconds=plan.timeout_sec + 5),
                    retry_policy=ONE_ATTEMPT,
                )
            except ActivityError as exc:
                cause = exc.cause
                error = str(cause.message if isinstance(cause, ApplicationError) else cause)
                final = isinstance(cause, ApplicationError) and cause.non_retryable
                if final or attempts > len(plan.retry_delays_sec):
                    self._show(target, f"failed after {attempts} attempts: {error}")
                    return TargetReport(
                        target=target, delivered=False, attempts=attempts, last_error=error
                    )
                delay = self._delay(plan.retry_delays_sec[attempts - 1], cause)
                self._show(target, f"attempt {attempts} failed ({error}); next in {delay:.0f} s")
                await workflow.sleep(delay)
                continue
            self._show(target, f"delivered at attempt {attempts}")
            return TargetReport(target=target, delivered=True, attempts=attempts, last_error=error)

    @staticmethod
    def _delay(planned: float, cause: BaseException | None) -> float:
        delay = planned * workflow.random().uniform(1 - JITTER, 1 + JITTER)
        if isinstance(cause, ApplicationError) and cause.details:
            retry_after = cause.details[0]
            if isinstance(retry_after, int | float):
                delay = max(delay, float(retry_after))
        return delay

    def _show(self, target: str, line: str) -> None:
        self._lines[target] = line
        workflow.set_current_details("\n".join(f"- **{t}**: {s}" for t, s in self._lines.items()))


async def send_webhook(event: WebhookEvent) -> None:
    """Enqueue an event's delivery from a workflow: start its `WebhookWorkflow` as a child
    that outlives the sender. Await it off the hot path (`WebhookOutbox`)."""
    try:
        await workflow.start_child_workflow(
            WebhookWorkflow.run,
            event,
            id=workflow_id(event.id),
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            static_summary=f"Webhook {event.type}",
        )
    except WorkflowAlreadyStartedError:
        workflow.logger.info("webhook %s already enqueued", event.id)


class WebhookOutbox:
    """The events a workflow sent: enqueued in the background, awaited before it closes (or
    continues as new), so the hot path never waits for the server.

    An event is enqueued by the activity `enqueue_webhook`, which starts its `WebhookWorkflow`
    (retried until it is started; started once). Before patch `webhooks-enqueued` it was
    started as an abandoned child, which the time-skipping test server cannot skip time past
    once the parent has closed.
    """

    def __init__(self) -> None:
        self._pending: list[Awaitable[None]] = []

    def send(self, event: WebhookEvent) -> None:
        if workflow.patched(patches.WEBHOOKS_ENQUEUED):
            self._pending.append(
                workflow.start_activity_method(
                    WebhookActivities.enqueue_webhook,
                    event,
                    start_to_close_timeout=ENQUEUE_TIMEOUT,
                    retry_policy=ENQUEUE_RETRY,
                )
            )
            return
        self._pending.append(asyncio.create_task(send_webhook(event)))

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)
