"""Timers on the time-skipping test server: an idle call closes after the call-back window."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from domain.call import CallInitiate
from domain.contracts import CallInput
from scripted_llm.runner import ScriptedLlmServer
from tests.conftest import make_settings
from worker import build_worker
from workflows.call import CallWorkflow


async def test_idle_call_is_closed_after_the_callback_window(
    time_skipping_env: WorkflowEnvironment,
    redis_url: str,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
) -> None:
    client = time_skipping_env.client
    settings = make_settings(tmp_path, redis_url, scripted_llm, "unused:0")
    async with AsyncExitStack() as stack:
        worker = await build_worker(client, settings, stack)
        task = asyncio.create_task(worker.run())
        try:
            call_id = str(uuid.uuid4())
            started = datetime.now(UTC)
            handle = await client.start_workflow(
                CallWorkflow.run,
                CallInput(
                    call_id=call_id,
                    initiate=CallInitiate(
                        phone_number="+33612345678",
                        bot_company="Contoso",
                        bot_name="Amélie",
                        agent_phone_number="+33600000000",
                    ),
                ),
                id=f"call-{call_id}",
                task_queue=settings.temporal.task_queue,
            )
            final = await asyncio.wait_for(handle.result(), 30)  # three hours, skipped
            assert final.status == "ended"
            # The caller never spoke: no post-call (no synthesis, no SMS, no LLM request).
            assert final.post_call_at is None and final.synthesis is None
            assert scripted_llm.state.requests(user=call_id) == []
            assert final.messages[-1].action == "hangup"
            assert (await time_skipping_env.get_current_time()) - started >= (timedelta(hours=3))
        finally:
            await worker.shutdown()
            await asyncio.gather(task, return_exceptions=True)
