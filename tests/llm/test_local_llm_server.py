"""The local llama.cpp server (`core/llm_server.py`) behind the project's own OpenAI client."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from temporalio.testing import ActivityEnvironment

from activities.llm import LlmActivities
from core.llm_server import (
    LlmServerError,
    llm_server_command,
    local_llm_model,
    running_llm_server,
    wait_ready,
)
from core.redis_server import free_port
from core.settings import LlmModelSettings, LlmSettings
from domain.call import CallInitiate, CallState, Message, Persona
from domain.contracts import LlmTurnInput, LlmTurnResult
from providers.llm import OpenAiChat
from providers.llm.models import QWEN_CODER_05B
from providers.sentences.redis_stream import RedisSentenceStream


@pytest.fixture(scope="module")
async def local_llm(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """The real server on the installed 0.5B model (about 5 s to load), for this module."""
    log = (tmp_path_factory.mktemp("llm") / "server.log").open("wb")
    async with running_llm_server(
        local_llm_model(), host="127.0.0.1", port=free_port(), ready_timeout=60, log=log
    ) as base_url:
        yield base_url
    log.close()


def model_settings(base_url: str) -> LlmModelSettings:
    return LlmModelSettings(
        endpoint=base_url, model="local", max_tokens=24, context_tokens=4096, seed=42
    )


def test_the_model_is_assembled_and_verified() -> None:
    path = local_llm_model()
    assert path.stat().st_size == QWEN_CODER_05B.files[0].size == 491_400_064
    assert path.read_bytes()[:4] == b"GGUF"


def test_the_command_runs_the_launcher_in_its_own_process() -> None:
    argv = llm_server_command(Path("/m.gguf"), host="127.0.0.1", port=8081)
    assert argv[:3] == [sys.executable, "-m", "core.llm_server"]
    assert argv[3:] == [
        "--model", "/m.gguf", "--host", "127.0.0.1", "--port", "8081",
        "--threads", "2", "--ctx", "4096",
    ]  # fmt: skip
    fixed = llm_server_command(Path("/m.gguf"), host="h", port=1, chat_template="qwen2.5")
    assert fixed[-2:] == ["--chat-template", "qwen2.5"]
    with pytest.raises(ValueError, match="unknown chat template"):
        llm_server_command(Path("/m.gguf"), host="h", port=1, chat_template="nope")


async def test_waiting_for_a_server_that_never_answers_fails_clearly() -> None:
    started = time.monotonic()
    with pytest.raises(LlmServerError, match="not ready after 1 s"):
        await wait_ready(f"http://127.0.0.1:{free_port()}/v1", timeout=1)
    assert time.monotonic() - started < 5


async def test_a_server_that_cannot_start_is_reported(tmp_path: Path) -> None:
    missing = tmp_path / "missing.gguf"
    with pytest.raises(LlmServerError, match="exited with 2 while starting"):
        async with running_llm_server(missing, host="127.0.0.1", port=free_port()):
            pass


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has exited (nobody reaped it yet)


@pytest.mark.skipif(sys.platform != "linux", reason="parent-death signal is Linux only")
async def test_the_server_does_not_outlive_the_process_that_started_it() -> None:
    port = free_port()
    argv = llm_server_command(local_llm_model(), host="127.0.0.1", port=port)
    parent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import subprocess, sys, time;"
        f"p = subprocess.Popen({json.dumps(argv)}, stderr=subprocess.DEVNULL);"
        "print(p.pid, flush=True); time.sleep(120)",
        stdout=asyncio.subprocess.PIPE,
    )
    assert parent.stdout is not None
    server = int(await parent.stdout.readline())
    await wait_ready(f"http://127.0.0.1:{port}/v1", timeout=60)
    parent.kill()  # a crash: no cleanup code runs in the parent
    await parent.wait()
    deadline = time.monotonic() + 10
    while _alive(server) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    if _alive(server):
        os.kill(server, 9)
        pytest.fail("the LLM server outlived its parent")


async def test_a_completion_streams_through_the_project_client(local_llm: str) -> None:
    await wait_ready(local_llm, timeout=5)  # answers at once when ready
    chat = OpenAiChat(model_settings(local_llm))
    messages = [
        {"role": "system", "content": "You are a phone assistant. Answer in one short sentence."},
        {"role": "user", "content": "Hello, can you hear me?"},
    ]
    try:
        chunks = [c async for c in chat.stream(messages, None, user="t", max_tokens=24)]
    finally:
        await chat.aclose()
    text = "".join(c.text for c in chunks)
    assert len([c for c in chunks if c.text]) > 1  # streamed, not one block
    assert any(ch.isalpha() for ch in text)
    assert [c.finish_reason for c in chunks if c.finish_reason][-1] in ("stop", "length")
    usage = chunks[-1].usage  # llama.cpp's usage chunk (`stream_options.include_usage`)
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0


async def test_a_small_profile_turn_with_guardrails_on_the_real_model(
    local_llm: str, redis: Redis
) -> None:
    settings = LlmSettings(
        fast=model_settings(local_llm),
        slow=model_settings(local_llm),
        attempts_per_model=1,
        profile="small",
        guardrails=True,
    )
    chat = OpenAiChat(settings.fast)
    sentences = RedisSentenceStream(redis)
    now = datetime.now(UTC)
    call = CallState(
        call_id="local-llm-test",
        created_at=now,
        initiate=CallInitiate(
            phone_number="+33612345678",
            bot_company="Contoso",
            bot_name="Amélie",
            agent_phone_number="+33612345679",
        ),
        messages=[
            Message(created_at=now, persona=Persona.ASSISTANT, content="What is your email?"),
            Message(created_at=now, persona=Persona.HUMAN, content="It's jean@example.com."),
        ],
    )
    try:
        result: LlmTurnResult = await ActivityEnvironment().run(
            LlmActivities(chat, chat, sentences, settings).llm_turn,
            LlmTurnInput(call=call, turn_id=1, iteration=0),
        )
    finally:
        await chat.aclose()
    assert result.model == "local" and result.guardrails
    assert [u.model_dump() for u in result.prefill] == [
        {"field": "policyholder_email", "value": "jean@example.com"}
    ]
    # Whatever the model said was spoken sentence by sentence.
    events = [e for _, e in await sentences.read("local-llm-test")]
    spoken = [e.text for e in events if e.kind == "sentence"]
    assert " ".join(spoken) == result.content
