"""Standard Webhooks to a real HTTP receiver that verifies every signature with the
`standardwebhooks` package, is down for the first attempts, and must get each event once.

The whole stack is real: the Temporal dev server, the worker, the API in process, Redis,
SQLite and the scripted LLM over HTTP; the receiver is an aiohttp server on a loopback port.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from redis.asyncio import Redis
from standardwebhooks import Webhook
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from api.deps import Services
from api.main import create_app
from core.settings import Settings
from core.stores import open_store
from domain.webhooks import (
    WebhookReport,
    check_event_url,
    check_secret,
    reminder_key,
    wants,
    workflow_id,
)
from scripted_llm.runner import ScriptedLlmServer
from scripted_llm.script import ScriptedReply, ScriptedToolCall
from tests.conftest import make_settings
from tests.support.codec import codec_converter
from worker import build_worker
from workflows.call import CallWorkflow
from workflows.reminder import reminder_workflow_id
from workflows.sandbox import WORKFLOW_RUNNER
from workflows.webhooks import WebhookWorkflow

CRM_SECRET = "whsec_" + base64.b64encode(b"crm-endpoint-secret-32-bytes-long!").decode()
CALL_SECRET = "whsec_" + base64.b64encode(b"per-call-url-secret-32-bytes-long!").decode()
RETRIES = [0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0]
CALL_EVENTS = ["call.started", "call.ended", "call.analyzed"]


@dataclass
class Receiver:
    """The customer's endpoint: verifies, then records each delivery it accepts."""

    port: int
    secrets: dict[str, str]
    refuse: int = 1  # the first deliveries that reach it get 503 + Retry-After
    accepted: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    refused: int = 0
    invalid: list[str] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        path = request.match_info["name"]
        try:
            body = Webhook(self.secrets[path]).verify(raw, dict(request.headers))
        except Exception as exc:  # any failure is a test failure, reported below
            self.invalid.append(f"{path}: {exc}")
            return web.Response(status=400)
        if self.refused < self.refuse:
            self.refused += 1
            return web.Response(status=503, headers={"Retry-After": "1"})
        self.accepted.append((path, request.headers["webhook-id"], body))
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/{name}", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/{name}"


def replayer(*workflows: type) -> Replayer:
    return Replayer(
        workflows=list(workflows),
        data_converter=codec_converter(),
        workflow_runner=WORKFLOW_RUNNER,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def webhook_stack(
    client: Client, settings: Settings
) -> AsyncIterator[tuple[httpx.AsyncClient, Redis]]:
    async with AsyncExitStack() as resources:
        worker = await build_worker(client, settings, resources)
        redis = Redis.from_url(settings.redis.url)
        resources.push_async_callback(redis.aclose)
        store = await open_store(settings.store)
        resources.push_async_callback(store.close)
        app = create_app(settings, Services(settings, client, store, redis))
        api = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api", timeout=60
        )
        resources.push_async_callback(api.aclose)
        task = asyncio.create_task(worker.run())
        try:
            yield api, redis
        finally:
            await worker.shutdown()
            await asyncio.gather(task, return_exceptions=True)


async def failed_attempts(client: Client, event_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id(event_id)).fetch_history()
    return sum(
        1 for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
    )


async def test_a_receiver_down_for_a_while_gets_every_event_once_signed(
    temporal_env: WorkflowEnvironment,
    redis_url: str,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
) -> None:
    client = temporal_env.client
    receiver = Receiver(free_port(), {"crm": CRM_SECRET, "call": CALL_SECRET})
    base = make_settings(
        tmp_path, redis_url, scripted_llm, client.service_client.config.target_host
    )
    settings = base.model_copy(
        update={
            "webhooks": type(base.webhooks).model_validate(
                {
                    "endpoints": [
                        {"name": "crm", "url": receiver.url("crm"), "secret": CRM_SECRET}
                    ],
                    "secret": CALL_SECRET,
                    "retry_delays_sec": RETRIES,
                    "timeout_sec": 5,
                }
            )
        }
    )
    async with webhook_stack(client, settings) as (api, _):
        created = await api.post(
            "/call", json={"phone_number": "+33612345678", "webhook_url": receiver.url("call")}
        )
        assert created.status_code == 201, created.text
        call_id = created.json()["call_id"]
        # Ahead of the real clock: this stack runs in real time, a past reminder would fire.
        friday = datetime.now(UTC).date() + timedelta(days=7)
        reminder = {"title": "Call back", "due_date_time": f"{friday} 10:00"}
        scripted_llm.state.add(
            ScriptedReply(
                tool_calls=[ScriptedToolCall(name="new_or_updated_reminder", arguments=reminder)]
            ),
            ScriptedReply(text="I am sorry to hear that. I will call you back on Friday."),
            ScriptedReply(
                text="Goodbye!", tool_calls=[ScriptedToolCall(name="end_call", arguments={})]
            ),
            user=call_id,
        )
        said = await api.post(
            f"/call/{call_id}/messages",
            json={"text": "My car was stolen. Can you call me back on Friday morning?"},
        )
        assert said.status_code == 200, said.text
        said = await api.post(f"/call/{call_id}/messages", json={"text": "That's all, bye."})
        assert said.json()["ended"] is True, said.text

        # Down: every event's deliveries fail (connection refused), each attempt an activity.
        started = f"{call_id}.call.started"
        deadline = time.monotonic() + 20
        while await failed_attempts(client, started) < 4:
            assert time.monotonic() < deadline, "the deliveries were not retried"
            await asyncio.sleep(0.2)
        await receiver.start()
        try:
            stored = (await api.get(f"/call/{call_id}")).json()["call"]["reminders"][0]
            due = datetime.fromisoformat(stored["due_date_time"])
            key = reminder_key("Call back", due)
            ids = [f"{call_id}.{event}" for event in CALL_EVENTS]
            ids.append(f"{call_id}.reminder.scheduled.{key}")
            # Closed, the call has started every delivery (post-call runs after the hang-up).
            await asyncio.wait_for(client.get_workflow_handle(f"call-{call_id}").result(), 30)
            reports = await asyncio.wait_for(
                asyncio.gather(
                    *(
                        client.get_workflow_handle_for(WebhookWorkflow.run, workflow_id(i)).result()
                        for i in ids
                    )
                ),
                60,
            )
            await asyncio.sleep(1.5)  # a duplicate delivery would arrive by now
        finally:
            await receiver.stop()
        workflow_call = await api.get(f"/call/{call_id}")
        # The call's history, with its background child starts, replays on this code.
        history = await client.get_workflow_handle(f"call-{call_id}").fetch_history()
        await replayer(CallWorkflow, WebhookWorkflow).replay_workflow(history)
        for i in ids:
            delivery = await client.get_workflow_handle(workflow_id(i)).fetch_history()
            await replayer(WebhookWorkflow).replay_workflow(delivery)
        await client.get_workflow_handle(reminder_workflow_id(call_id, "Call back")).terminate()

    assert receiver.invalid == []
    got = sorted((path, webhook_id) for path, webhook_id, _ in receiver.accepted)
    assert got == sorted((path, i) for path in ("call", "crm") for i in ids), got
    assert all(isinstance(r, WebhookReport) for r in reports)
    for report in reports:
        assert {t.target for t in report.targets} == {"crm", "event-url"}
        assert all(t.delivered for t in report.targets), report
    # While down, each attempt failed in its own activity (visible in the UI's history).
    assert sum(t.attempts - 1 for t in reports[0].targets) >= 4
    assert await failed_attempts(client, started) == sum(t.attempts - 1 for t in reports[0].targets)
    assert receiver.refused == 1

    by_type = {body["type"]: body for path, _, body in receiver.accepted if path == "crm"}
    ended = by_type["call.ended"]["data"]
    assert ended["call_id"] == call_id and ended["status"] == "ended"
    assert ended["outcome"] == "completed" and ended["outcome_code"] is None
    assert "claim" in ended and ended["phone_number"] == "+33612345678"
    # Usage and cost: the tokens are those the LLM server counted for this call's turns.
    turns = [r for r in scripted_llm.state.requests(call_id) if r.model == "fast-model"]
    expected_prompt = sum(max(1, len(json.dumps(r.messages)) // 4) for r in turns)
    fast = next(t for t in ended["usage"]["llm"] if t["model"] == "fast-model")
    assert fast["requests"] == len(turns) and fast["prompt_tokens"] == expected_prompt
    assert ended["usage"]["temporal_actions"] > len(turns)
    cost = ended["usage"]["cost"]
    assert cost["total"] > 0 and cost["as_of"] == str(settings.prices.as_of)
    assert {line["item"] for line in cost["lines"]} >= {"llm_input:fast-model", "temporal"}
    scheduled = by_type["reminder.scheduled"]["data"]
    assert scheduled["title"] == "Call back" and scheduled["due_date_time"] == due.isoformat()
    analyzed = by_type["call.analyzed"]["data"]
    assert analyzed["synthesis"] is not None or analyzed["next_action"] is not None
    # call.analyzed carries the cost priced again after post-call (its tokens too).
    assert {t["model"] for t in analyzed["usage"]["llm"]} == {"fast-model", "slow-model"}
    assert analyzed["usage"]["cost"]["total"] > cost["total"]
    # The API shows the final usage, as call.analyzed does.
    assert workflow_call.json()["call"]["usage"]["cost"] == analyzed["usage"]["cost"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://user:secret@hooks.example.com/in", "credentials"),
        ("https://hooks.example.com/in?token=abc", "query string"),
        ("https://hooks.example.com/in#frag", "query string or fragment"),
        ("http://hooks.example.com/in", "https"),
        ("ftp://hooks.example.com/in", "https"),
    ],
)
def test_a_webhook_url_that_could_hold_a_secret_is_refused(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_event_url(url)


async def test_post_call_refuses_a_webhook_url_with_credentials(stack: Any) -> None:
    response = await stack.api.post(
        "/call",
        json={"phone_number": "+33612345678", "webhook_url": "https://u:p@example.com/hook"},
    )
    assert response.status_code == 422
    assert "credentials" in response.text
    ok = await stack.api.post(
        "/call", json={"phone_number": "+33612345678", "webhook_url": "https://example.com/h"}
    )
    assert ok.status_code == 201, ok.text


def test_secrets_and_event_filters() -> None:
    assert check_secret(CRM_SECRET) == CRM_SECRET
    for bad, reason in [
        ("plain-secret", "starts with whsec_"),
        ("whsec_!!!", "base64"),
        ("whsec_" + base64.b64encode(b"short").decode(), "24 to 64 bytes"),
    ]:
        with pytest.raises(ValueError, match=reason):
            check_secret(bad)
    assert wants([], "call.ended")
    assert wants(["call.*"], "call.ended") and not wants(["call.*"], "campaign.progress")
    assert wants(["campaign.completed"], "campaign.completed")
    assert not wants(["campaign.completed"], "campaign.progress")


def test_settings_refuse_a_bad_endpoint() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="starts with whsec_"):
        Settings(webhooks={"endpoints": [{"name": "a", "url": "https://x", "secret": "nope"}]})
    endpoint = {"name": "a", "url": "https://x.example", "secret": CRM_SECRET}
    with pytest.raises(ValidationError, match="unique"):
        Settings(webhooks={"endpoints": [endpoint, endpoint]})
