"""A worker that dies holding a call's workflow task stalls the call about a second.

Real processes: the dev server, a worker in its own OS process that is frozen (SIGSTOP) while
its poll for the call's next workflow task is open, so the task is handed to it, then SIGKILLed;
a second worker; the API. Without `WORKFLOW_TASK_TIMEOUT` the task would wait out Temporal's
default 10 s before another worker could run it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path

import httpx
from redis.asyncio import Redis
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.testing import WorkflowEnvironment

from api.deps import Services
from api.main import create_app
from core.stores import open_store
from core.temporal import WORKFLOW_TASK_TIMEOUT
from scripted_llm.runner import ScriptedLlmServer
from scripted_llm.script import ScriptedReply
from tests.conftest import make_settings
from tests.workflows.test_turn_durability import in_process_worker, worker_process
from workflows.call import CallWorkflow

log = logging.getLogger(__name__)


async def test_a_worker_killed_holding_a_workflow_task_stalls_the_call_about_a_second(
    temporal_env: WorkflowEnvironment,
    redis_url: str,
    redis: Redis,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
) -> None:
    client = temporal_env.client
    # Its own task queue: only the doomed worker, then the rescuer, ever poll it.
    settings = make_settings(
        tmp_path, redis_url, scripted_llm, client.service_client.config.target_host
    )
    store = await open_store(settings.store)
    app = create_app(settings, Services(settings, client, store, redis))
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api,
        worker_process(settings, tmp_path) as doomed,
    ):
        created = await api.post("/call", json={"phone_number": "+33612000090"})
        assert created.status_code == 201, created.text
        call_id = created.json()["call_id"]
        handle = client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
        for _ in range(200):  # the doomed worker has run the call's first tasks (sticky now)
            if (await handle.query(CallWorkflow.get_state)).status.value == "in_progress":
                break
            await asyncio.sleep(0.05)
        scripted_llm.state.add(ScriptedReply(text="Right away."), user=call_id)
        doomed.send_signal(signal.SIGSTOP)  # its open poll will take the next task, then hang
        async with in_process_worker(client, settings):
            started = time.monotonic()
            turn = asyncio.create_task(
                api.post(f"/call/{call_id}/messages", json={"text": "Hi", "turn_id": 1})
            )
            await asyncio.sleep(0.3)
            doomed.send_signal(signal.SIGKILL)
            reply = await asyncio.wait_for(turn, 30)
            stalled = time.monotonic() - started
    await store.close()
    assert reply.status_code == 200, reply.text
    assert reply.json()["text"] == "Right away."
    timeouts = [
        e
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT
    ]
    assert timeouts, "no workflow task was lost with the dead worker"
    log.warning("turn answered %.2f s after it was sent", stalled)
    # The task the dead worker held ran out its start-to-close timeout, then ran elsewhere.
    kinds = [e.workflow_task_timed_out_event_attributes.timeout_type for e in timeouts]
    assert TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE in kinds
    # About WORKFLOW_TASK_TIMEOUT (measured 0.7-0.9 s; 9.9 s with Temporal's default 10 s).
    assert WORKFLOW_TASK_TIMEOUT.total_seconds() <= 1
    assert stalled < 3
