"""A turn survives a worker SIGKILLed mid-answer and a Redis outage; ACS events apply once.

Real processes: the dev server, a worker in its own OS process killed with SIGKILL, a second
worker, a private redis-server stopped and started again, the scripted LLM over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
import uuid
from asyncio.subprocess import Process
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from subprocess import STDOUT
from typing import Any

from pydantic import SecretStr
from redis.asyncio import Redis
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateStage
from temporalio.testing import WorkflowEnvironment

from core.redis_server import RedisProcess
from core.settings import Settings
from core.stores import open_store
from domain.call import CallInitiate, CallState, CallStatus, Persona
from domain.contracts import AcsEvent, CallInput, SentenceEvent, UserTurn
from domain.prompts import phrase
from providers.sentences.redis_stream import RedisSentenceStream
from scripted_llm.runner import ScriptedLlmServer
from scripted_llm.script import ScriptedReply
from tests.conftest import Stack, make_settings
from worker import build_worker
from workflows.call import CallWorkflow

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
SENTENCES = [f"Sentence number {n} of the answer." for n in range(1, 7)]
ANSWER = " ".join(SENTENCES)
ONE_LANGUAGE = {
    "default_short_code": "en-US",
    "availables": [{"short_code": "en-US", "voice": "en-US-AvaMultilingualNeural"}],
}


def _plain(value: Any) -> Any:
    """Settings as JSON for a worker process (YAML reads JSON), secrets included."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value


@asynccontextmanager
async def worker_process(settings: Settings, tmp: Path) -> AsyncIterator[Process]:
    """`python worker.py` in its own process, on the test's settings."""
    config = tmp / f"worker-{uuid.uuid4().hex[:6]}.yaml"
    config.write_text(json.dumps(_plain(settings.model_dump()), default=str), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env["CALLCENTER_CONFIG"] = str(config)
    with (tmp / "worker.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "worker.py", cwd=ROOT, env=env, stdout=log, stderr=STDOUT
        )
        try:
            yield process
        finally:
            if process.returncode is None:
                process.kill()
            await asyncio.wait_for(process.wait(), 10)


@asynccontextmanager
async def in_process_worker(client: Client, settings: Settings) -> AsyncIterator[None]:
    async with AsyncExitStack() as resources:
        worker = await build_worker(client, settings, resources)
        task = asyncio.create_task(worker.run())
        try:
            yield
        finally:
            await worker.shutdown()
            await asyncio.gather(task, return_exceptions=True)


async def start_chat_call(
    client: Client, settings: Settings
) -> tuple[str, WorkflowHandle[Any, Any]]:
    call_id = uuid.uuid4().hex
    initiate = CallInitiate(
        phone_number="+33612345678",
        bot_company="Contoso",
        bot_name="Amélie",
        agent_phone_number="+33612345679",
    )
    handle = await client.start_workflow(
        CallWorkflow.run,
        CallInput(call_id=call_id, initiate=initiate, channel="chat"),
        id=f"call-{call_id}",
        task_queue=settings.temporal.task_queue,
    )
    return call_id, handle


async def events(stream: RedisSentenceStream, call_id: str) -> list[SentenceEvent]:
    return [event for _, event in await stream.read(call_id, count=1000)]


async def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_worker_killed_mid_answer_each_sentence_once_and_no_apology(
    temporal_env: WorkflowEnvironment,
    redis_url: str,
    redis: Redis,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
) -> None:
    client = temporal_env.client
    settings = make_settings(
        tmp_path, redis_url, scripted_llm, client.service_client.config.target_host
    )
    stream = RedisSentenceStream(redis)
    async with worker_process(settings, tmp_path) as doomed:
        call_id, handle = await start_chat_call(client, settings)
        # The scripted model answers the same prompt the same way: once, and again on retry.
        reply = ScriptedReply(text=ANSWER, chunk_chars=34, chunk_delay_s=0.5)
        scripted_llm.state.add(reply, reply, user=call_id)
        update = await handle.start_update(
            CallWorkflow.user_turn,
            UserTurn(text="What does my policy cover?", turn_id=1, channel="voice"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )

        async def two_said() -> bool:
            return len(await events(stream, call_id)) >= 2

        await wait_until(two_said, 60, "the first two sentences")
        # A healthy worker is there (as in production) before the other one dies.
        async with in_process_worker(client, settings):
            doomed.send_signal(signal.SIGKILL)
            killed_at = time.time()  # the scripted LLM's clock for requests
            await asyncio.wait_for(doomed.wait(), 10)
            at_kill = len(await events(stream, call_id))
            assert 2 <= at_kill < len(SENTENCES)  # killed mid-answer

            async def next_said() -> bool:
                return len(await events(stream, call_id)) > at_kill

            await wait_until(next_said, 30, "the answer to go on")
            resumed_s = time.time() - killed_at
            result = await asyncio.wait_for(update.result(), 30)
            said = await events(stream, call_id)
            state: CallState = await handle.query(CallWorkflow.get_state)

    retried = scripted_llm.state.requests(call_id)[1].received_at
    log.warning(
        "worker SIGKILL -> LLM asked again %.2f s, next sentence appended %.2f s",
        retried - killed_at,
        resumed_s,
    )
    assert [(e.kind, e.index, e.text) for e in said if e.kind == "sentence"] == [
        ("sentence", n, text) for n, text in enumerate(SENTENCES)
    ]
    # The retry regenerating what was said holds the caller meanwhile (at most once).
    assert [e.text for e in said if e.kind != "sentence"] in ([], [phrase("hold", state)])
    assert result.text == ANSWER
    stored = [m.content for m in state.messages if m.persona is Persona.ASSISTANT and m.turn_id]
    assert stored == [ANSWER]  # what is stored is exactly what the stream holds
    assert len(scripted_llm.state.requests(call_id)) == 2  # the retry asked the model again
    # Heartbeat timeout (1 s) + retry backoff + the retried stream reaching the next sentence.
    assert retried - killed_at < 5 and resumed_s < 10


async def test_redis_down_during_a_turn_keeps_the_words_and_the_call_goes_on(
    temporal_env: WorkflowEnvironment,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
) -> None:
    client = temporal_env.client
    own = RedisProcess().start()
    try:
        settings = make_settings(
            tmp_path, own.url, scripted_llm, client.service_client.config.target_host
        )
        async with in_process_worker(client, settings):
            call_id, handle = await start_chat_call(client, settings)
            scripted_llm.state.add(ScriptedReply(text="Hello, how can I help?"), user=call_id)
            first = await handle.execute_update(CallWorkflow.user_turn, UserTurn(text="Hi"))
            assert first.text == "Hello, how can I help?"

            assert own.process is not None
            own.process.kill()  # SIGKILL: no persistence, the streams are gone with it
            own.process.wait(5)
            scripted_llm.state.set_default(ScriptedReply(text="Never heard."), user=call_id)
            lost = await asyncio.wait_for(
                handle.execute_update(
                    CallWorkflow.user_turn, UserTurn(text="My windscreen is broken.")
                ),
                60,
            )
            # Nothing of the model's answer is claimed; a chat shows the apology in the reply
            # (patch chat-phrases-shown), the sentence stream being down with Redis.
            assert "Never heard." not in lost.text
            assert lost.text.startswith("Sorry, I had a technical problem."), lost.text
            state: CallState = await handle.query(CallWorkflow.get_state)
            assert state.status is CallStatus.IN_PROGRESS
            words = [m.content for m in state.messages if m.persona is Persona.HUMAN]
            assert "My windscreen is broken." in words
            store = await open_store(settings.store)
            try:
                saved = await store.get(call_id)
            finally:
                await store.close()
            assert saved is not None
            assert "My windscreen is broken." in [m.content for m in saved.messages]
            assert "Never heard." not in str([m.content for m in saved.messages])

            own.start()  # same port, empty
            scripted_llm.state.add(ScriptedReply(text="Sorry, say that again?"), user=call_id)
            again = await asyncio.wait_for(
                handle.execute_update(
                    CallWorkflow.user_turn, UserTurn(text="My windscreen is broken.")
                ),
                60,
            )
            assert again.text == "Sorry, say that again?"
            # The model saw the words of the turn that could not be answered.
            last = scripted_llm.state.requests(call_id)[-1]
            assert "My windscreen is broken." in json.dumps(last.messages)
            async with Redis.from_url(own.url) as fresh:
                said = await events(RedisSentenceStream(fresh), call_id)
            assert [e.text for e in said] == ["Sorry, say that again?"]
    finally:
        own.stop()


async def test_the_same_acs_event_twice_greets_once(stack: Stack) -> None:
    call_id = uuid.uuid4().hex
    now = datetime.now(UTC)
    state = CallState(
        call_id=call_id,
        created_at=now,
        channel="phone",
        direction="inbound",
        connection_id="connection-1",
        initiate=CallInitiate(
            phone_number="+33612345678",
            bot_company="Contoso",
            bot_name="Amélie",
            agent_phone_number="+33612345679",
            lang=ONE_LANGUAGE,  # no language menu: connected, the bot greets at once
        ),
    )
    handle = await stack.client.start_workflow(
        CallWorkflow.run,
        CallInput(call_id=call_id, initiate=state.initiate, channel="phone", resume=state),
        id=f"call-{call_id}",
        task_queue=stack.settings.temporal.task_queue,
    )
    connected = AcsEvent(id="event-1", type="CallConnected", connection_id="connection-1")
    await handle.signal(CallWorkflow.acs_event, connected)
    await handle.signal(CallWorkflow.acs_event, connected)
    # A later, different event still applies: the dedup is by id, not by type.
    await handle.signal(
        CallWorkflow.acs_event,
        AcsEvent(id="event-2", type="PlayCompleted", connection_id="connection-1"),
    )

    hello = phrase("hello", state)
    for _ in range(200):
        current: CallState = await handle.query(CallWorkflow.get_state)
        said = await events(stack.sentences, call_id)
        if current.status is CallStatus.IN_PROGRESS and said:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # time for a second greeting to arrive, were there one
    current = await handle.query(CallWorkflow.get_state)
    greetings = [m for m in current.messages if m.content == hello]
    assert len(greetings) == 1
    assert [(e.kind, e.text) for e in await events(stack.sentences, call_id)] == [("notice", hello)]
    history = await handle.fetch_history()
    signals = [
        e for e in history.events if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert len(signals) == 3  # both deliveries did reach the workflow
