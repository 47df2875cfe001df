"""The delivery's retry plan over hours, on the time-skipping server: the settings' schedule
(±10 % jitter), the receiver's `Retry-After`, and `410 Gone` stopping at once. The receiver is a
real aiohttp server; only the timers are skipped."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from standardwebhooks import Webhook
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.webhooks import WebhookActivities
from core.settings import StoreSettings, WebhookSettings
from core.stores import open_store
from domain.webhooks import RETRY_DELAYS_SEC, WebhookEvent, campaign_event, workflow_id
from workflows.sandbox import WORKFLOW_RUNNER
from workflows.webhooks import WebhookWorkflow

SECRET = "whsec_" + base64.b64encode(b"backoff-test-secret-of-32-bytes!!").decode()


@dataclass
class Scripted:
    """Answers each delivery with the next status of `statuses` (then 204), verifying it."""

    statuses: list[tuple[int, dict[str, str]]]
    seen: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        Webhook(SECRET).verify(await request.read(), dict(request.headers))
        self.seen.append(request.headers["webhook-id"])
        if self.statuses:
            status, headers = self.statuses.pop(0)
            return web.Response(status=status, headers=headers)
        return web.Response(status=204)


@asynccontextmanager
async def delivering(
    client: Client, tmp_path: Path, receiver: Scripted
) -> AsyncIterator[tuple[Client, str]]:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    settings = WebhookSettings.model_validate(
        {"endpoints": [{"name": "crm", "url": f"http://127.0.0.1:{port}/hook", "secret": SECRET}]}
    )
    store = await open_store(StoreSettings(sqlite_path=tmp_path / "calls.sqlite3"))
    activities = WebhookActivities(settings, store)
    queue = f"webhooks-{uuid.uuid4().hex[:8]}"
    try:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[WebhookWorkflow],
            activities=[activities.webhook_targets, activities.deliver_webhook],
            workflow_runner=WORKFLOW_RUNNER,
        ):
            yield client, queue
    finally:
        await activities.aclose()
        await store.close()
        await runner.cleanup()


def event() -> WebhookEvent:
    return campaign_event(
        f"camp-{uuid.uuid4().hex[:8]}", "campaign.completed", datetime.now(UTC), contacts=3
    )


async def timers(client: Client, wid: str) -> list[float]:
    history = await client.get_workflow_handle(wid).fetch_history()
    return [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta().total_seconds()
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]


async def test_a_receiver_down_for_hours_is_retried_on_the_schedule(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # Answered again after ~7.6 h: 5 s, 5 min, 30 min, 2 h, 5 h.
    down: list[tuple[int, dict[str, str]]] = [(503, {})] * 5
    receiver = Scripted(list(down))
    async with delivering(time_skipping_env.client, tmp_path, receiver) as (client, queue):
        sent = event()
        report = await client.execute_workflow(
            WebhookWorkflow.run, sent, id=workflow_id(sent.id), task_queue=queue
        )
        waits = await timers(client, workflow_id(sent.id))
    assert report.targets[0].delivered and report.targets[0].attempts == 6
    assert receiver.seen == [sent.id] * 6  # the same webhook-id on every attempt
    assert len(waits) == 5
    for wait, planned in zip(waits, RETRY_DELAYS_SEC, strict=False):
        assert planned * 0.9 <= wait <= planned * 1.1
    assert sum(waits) > 7 * 3_600


async def test_retry_after_and_gone(time_skipping_env: WorkflowEnvironment, tmp_path: Path) -> None:
    receiver = Scripted([(429, {"Retry-After": "3600"}), (410, {})])
    async with delivering(time_skipping_env.client, tmp_path, receiver) as (client, queue):
        sent = event()
        report = await client.execute_workflow(
            WebhookWorkflow.run, sent, id=workflow_id(sent.id), task_queue=queue
        )
        waits = await timers(client, workflow_id(sent.id))
    target = report.targets[0]
    assert not target.delivered and target.attempts == 2  # 410: no more attempts
    assert target.last_error is not None and "410" in target.last_error
    assert waits == [3_600.0]  # the receiver's Retry-After, over the schedule's 5 s
