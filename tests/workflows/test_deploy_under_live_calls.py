"""A deploy while calls talk and reminders sleep: build 1 is stopped, build 2 takes over.

Real dev server, Redis, SQLite, scripted LLM over HTTP and the API; the workers are the real
worker (`build_worker`), with the workflow classes of each build. Build 2 changes the command
sequence of both `CallWorkflow` and `ReminderWorkflow` (`tests/workflows/next_build.py`):
guarded by `workflow.patched()`, the executions started on build 1 go on on the old path and
the new ones take the new path, without a single failed workflow task; unguarded, the same
change breaks the live executions with a non-determinism error.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.deps import Services
from api.main import create_app
from core.settings import Settings
from core.stores import open_store
from domain.call import CallInitiate, Reminder
from domain.contracts import ReminderInput
from providers.sentences.redis_stream import RedisSentenceStream
from providers.sms.outbox import OutboxSms
from scripted_llm.runner import ScriptedLlmServer
from scripted_llm.script import ScriptedReply
from tests.conftest import make_settings
from tests.workflows.next_build import (
    CALL_PATCH,
    HOLD_PHRASE,
    REMINDER_PATCH,
    PatchedCallWorkflow,
    PatchedReminderWorkflow,
    UnguardedCallWorkflow,
    UnguardedReminderWorkflow,
)
from worker import build_worker
from workflows.call import CallWorkflow
from workflows.reminder import ReminderWorkflow, reminder_workflow_id

CUSTOMER = "+33612345678"  # the tests' fictitious number
INITIATE = CallInitiate(
    phone_number=CUSTOMER,
    bot_company="Contoso",
    bot_name="Amélie",
    agent_phone_number="+33698765432",
)
# Build 1 must be gone before the reminders it started are due (checked, not assumed).
REMINDER_DELAY = timedelta(seconds=6)

Events = list[dict[str, Any]]


@dataclass
class Deployment:
    """One task queue, its API and stores; workers of successive builds come and go."""

    client: Client
    settings: Settings
    api: httpx.AsyncClient
    redis: Redis
    llm: ScriptedLlmServer

    @asynccontextmanager
    async def build(self, *workflows: type) -> AsyncIterator[None]:
        """The real worker, registering these workflow classes; stopped as a deploy stops it."""
        async with AsyncExitStack() as resources:
            # A worker registers with its client when built, and a client takes one worker per
            # task queue: the real one is built on a connection of its own (its activities use
            # it), and its configuration serves the build's worker.
            scratch = await Client.connect(
                self.settings.temporal.address, data_converter=self.client.data_converter
            )
            real = await build_worker(scratch, self.settings, resources)
            config: Any = {**real.config(), "client": self.client, "workflows": list(workflows)}
            async with Worker(**config):
                yield

    async def call(self) -> str:
        response = await self.api.post("/call", json={"phone_number": CUSTOMER})
        assert response.status_code == 201, response.text
        call_id: str = response.json()["call_id"]
        return call_id

    async def turn(self, call_id: str, turn_id: int, text: str) -> str:
        answer = f"Answer {turn_id} to {call_id[:8]}."
        self.llm.state.add(ScriptedReply(text=answer), user=call_id)
        response = await self.api.post(
            f"/call/{call_id}/messages", json={"text": text, "turn_id": turn_id}
        )
        assert response.status_code == 200, response.text
        reply: str = response.json()["text"]
        assert reply == answer
        return reply

    async def remind(self, call_id: str, due: datetime) -> str:
        reminder = Reminder(
            created_at=datetime.now(UTC),
            title=f"Send the repair quote {uuid.uuid4().hex[:6]}",
            description="The garage's quote for the bumper.",
            due_date_time=due,
            owner="customer",
        )
        workflow_id = reminder_workflow_id(call_id, reminder.title)
        await self.client.start_workflow(
            ReminderWorkflow.run,
            ReminderInput(call_id=call_id, reminder=reminder, initiate=INITIATE),
            id=workflow_id,
            task_queue=self.settings.temporal.task_queue,
        )
        return workflow_id

    async def asleep(self, *workflow_ids: str) -> None:
        """Wait until each execution's last workflow task is completed: a deploy then finds it
        asleep in its history, not half-way through a task the old worker still holds."""
        for workflow_id in workflow_ids:
            for _ in range(200):
                tasks = [
                    e["eventType"]
                    for e in await self.events(workflow_id)
                    if e["eventType"].startswith("EVENT_TYPE_WORKFLOW_TASK_")
                ]
                if tasks and tasks[-1] == "EVENT_TYPE_WORKFLOW_TASK_COMPLETED":
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"{workflow_id} never completed its workflow task")

    async def events(self, workflow_id: str) -> Events:
        history = await self.client.get_workflow_handle(workflow_id).fetch_history()
        events: Events = history.to_json_dict()["events"]
        return events

    async def heard(self, call_id: str, turn_id: int) -> list[str]:
        entries = await RedisSentenceStream(self.redis).read(call_id)
        return [e.text for _, e in entries if e.turn_id == turn_id]


@pytest.fixture
async def deploy(
    temporal_env: WorkflowEnvironment,
    redis_url: str,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
) -> AsyncIterator[Deployment]:
    client = temporal_env.client
    settings = make_settings(
        tmp_path, redis_url, scripted_llm, client.service_client.config.target_host
    )
    async with AsyncExitStack() as resources:
        redis = Redis.from_url(redis_url)
        resources.push_async_callback(redis.aclose)
        store = await open_store(settings.store)
        resources.push_async_callback(store.close)
        app = create_app(settings, Services(settings, client, store, redis))
        api = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=60
        )
        resources.push_async_callback(api.aclose)
        yield Deployment(client, settings, api, redis, scripted_llm)


def call_id_of(workflow_id: str) -> str:
    return workflow_id.removeprefix("call-")


def patches(events: Events) -> list[str]:
    """The patch ids a run recorded (`core_patch` markers)."""
    found = []
    for event in events:
        marker = event.get("markerRecordedEventAttributes", {})
        if marker.get("markerName") == "core_patch":
            payload = marker["details"]["patch-data"]["payloads"][0]["data"]
            found.append(json.loads(base64.b64decode(payload))["id"])
    return found


def activities(events: Events) -> list[str]:
    """The activities a run scheduled, less its webhook events (`reminder.fired`, …), which
    both builds enqueue alike."""
    names = (
        e["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for e in events
        if "activityTaskScheduledEventAttributes" in e
    )
    return [name for name in names if name != "enqueue_webhook"]


def first_of(names: list[str], *candidates: str) -> str:
    return next(name for name in names if name in candidates)


def task_failures(events: Events) -> list[str]:
    return [
        json.dumps(e["workflowTaskFailedEventAttributes"])
        for e in events
        if e["eventType"] == "EVENT_TYPE_WORKFLOW_TASK_FAILED"
    ]


def fired_at(events: Events) -> list[datetime]:
    return [
        datetime.fromisoformat(e["eventTime"].replace("Z", "+00:00"))
        for e in events
        if e["eventType"] == "EVENT_TYPE_TIMER_FIRED"
    ]


async def test_a_patched_build_takes_over_live_calls_and_sleeping_reminders(
    deploy: Deployment,
) -> None:
    async with deploy.build(CallWorkflow, ReminderWorkflow):
        talked = [await deploy.call() for _ in range(2)]
        for call_id in talked:
            await deploy.turn(call_id, 1, "My car was hit.")
        quiet = await deploy.call()  # opened on build 1, its first turn comes on build 2
        due = datetime.now(UTC) + REMINDER_DELAY
        sleeping = [await deploy.remind(call_id, due) for call_id in talked]
        await deploy.asleep(*(f"call-{c}" for c in [*talked, quiet]), *sleeping)
    stopped = datetime.now(UTC)
    assert stopped < due - timedelta(seconds=1), "build 1 outlived the reminders' due time"

    async with deploy.build(PatchedCallWorkflow, PatchedReminderWorkflow):
        for call_id in talked:  # their next turn, on the new build
            await deploy.turn(call_id, 2, "Is towing covered?")
        await deploy.turn(quiet, 1, "Hello?")
        fresh = [await deploy.call() for _ in range(2)]
        for call_id in fresh:
            await deploy.turn(call_id, 1, "My car was hit.")
        soon = datetime.now(UTC) + timedelta(seconds=1)
        new_reminder = await deploy.remind(fresh[0], soon)
        for workflow_id in [*sleeping, new_reminder]:
            handle = deploy.client.get_workflow_handle_for(ReminderWorkflow.run, workflow_id)
            done = await asyncio.wait_for(handle.result(), 30)
            assert (done.status, done.attempts) == ("sent", 1)

    # Started on build 1 and past the patched code: the old path, for the rest of the run.
    for call_id in talked:
        events = await deploy.events(f"call-{call_id}")
        assert CALL_PATCH not in patches(events)
        assert "speak" not in activities(events)
        assert await deploy.heard(call_id, 2) == [f"Answer 2 to {call_id[:8]}."]
    for workflow_id in sleeping:
        events = await deploy.events(workflow_id)
        assert REMINDER_PATCH not in patches(events)
        assert activities(events) == ["follow_up", "report_reminder"]
        assert fired_at(events)[0] > stopped  # it slept through the deploy, fired on build 2
    # Not past it yet (the quiet call) or started on build 2: the new path, marked.
    for call_id in [quiet, *fresh]:
        events = await deploy.events(f"call-{call_id}")
        assert CALL_PATCH in patches(events)
        assert first_of(activities(events), "speak", "llm_turn") == "speak"
        assert await deploy.heard(call_id, 1) == [HOLD_PHRASE, f"Answer 1 to {call_id[:8]}."]
    events = await deploy.events(new_reminder)
    assert REMINDER_PATCH in patches(events)
    assert activities(events) == ["report_reminder", "follow_up", "report_reminder"]

    for workflow_id in [*(f"call-{c}" for c in [*talked, quiet, *fresh]), *sleeping]:
        assert task_failures(await deploy.events(workflow_id)) == [], workflow_id
    texts = OutboxSms(deploy.settings.sms.outbox_path).read()
    assert sorted(t["to"] for t in texts) == [CUSTOMER] * 3


async def wait_for_nondeterminism(deploy: Deployment, workflow_id: str) -> str:
    for _ in range(150):
        failures = task_failures(await deploy.events(workflow_id))
        if failures:
            return failures[0]
        await asyncio.sleep(0.2)
    raise AssertionError(f"{workflow_id} never failed a workflow task")


async def test_the_same_change_without_patched_breaks_the_live_executions(
    deploy: Deployment,
) -> None:
    async with deploy.build(CallWorkflow, ReminderWorkflow):
        call_id = await deploy.call()
        await deploy.turn(call_id, 1, "My car was hit.")
        due = datetime.now(UTC) + REMINDER_DELAY
        reminder = await deploy.remind(call_id, due)
        await deploy.asleep(f"call-{call_id}", reminder)
    assert datetime.now(UTC) < due - timedelta(seconds=1), "build 1 outlived the due time"

    broken = [f"call-{call_id}", reminder]
    async with deploy.build(UnguardedCallWorkflow, UnguardedReminderWorkflow):
        deploy.llm.state.add(ScriptedReply(text="Never said."), user=call_id)
        turn = asyncio.create_task(
            deploy.api.post(
                f"/call/{call_id}/messages", json={"text": "Is towing covered?", "turn_id": 2}
            )
        )
        failures = [await wait_for_nondeterminism(deploy, w) for w in broken]
        await asyncio.wait([turn], timeout=1)
        answered = turn.done() and turn.result().status_code == 200
        turn.cancel()
        await asyncio.gather(turn, return_exceptions=True)
        statuses = [(await deploy.client.get_workflow_handle(w).describe()).status for w in broken]
    for workflow_id in broken:
        await deploy.client.get_workflow_handle(workflow_id).terminate("deploy test over")

    for failure in failures:
        assert "NON_DETERMINISTIC" in failure and "Nondeterminism" in failure, failure
    assert not answered  # the caller's next turn is refused or hangs: the call is stuck
    assert statuses == [WorkflowExecutionStatus.RUNNING] * 2  # stuck, not finished
    assert OutboxSms(deploy.settings.sms.outbox_path).read() == []  # the reminder never fired
