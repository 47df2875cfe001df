"""The call stack the evaluation talks to, as separate processes, with one of three LLMs.

`running_stack(backend)` starts in a fresh temporary folder: a private Redis, the Temporal dev
server, the LLM (the scripted server, the local llama.cpp server on a GGUF file, or nothing for
an endpoint given by URL), then the worker and the API (`python -m api.main`), configured only
through `CALLCENTER_*` variables, as a deployment would be. Logs go to files in that folder.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import httpx
from redis.asyncio import Redis
from temporalio.client import Client
from temporalio.service import RPCError

from core.devserver import dev_server_command
from core.llm_server import llm_server_command, local_llm_model, wait_ready
from core.redis_server import RedisProcess, free_port
from core.settings import TemporalSettings
from core.temporal import connect
from domain import attributes

ROOT = Path(__file__).resolve().parent.parent
TASK_QUEUE = "evals"
START_TIMEOUT_S = 120.0
# Loading a GGUF on a loaded CPU took over 120 s (load 20 on 2 cores).
LLM_START_TIMEOUT_S = 600.0
FLAGS_KEY = "evals:flags"
# A local model on a shared CPU needs far more than the hosted default (15 s) for one answer;
# `make demo` gives it 40 s. An abandoned answer is an apology, which would score the machine.
LOCAL_FLAGS = {"answer_hard_timeout_sec": "120", "answer_soft_timeout_sec": "60"}
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Backend:
    """Which LLM answers, and the settings that select today's turn behaviour.

    `profile`/`guardrails` None: what a user of that backend gets by default (a local model
    runs the small profile, as `make demo` does; anything else the full one).
    """

    kind: Literal["scripted", "local", "url"]
    url: str | None = None  # kind "url": an OpenAI-compatible base URL (…/v1)
    model: str = "local"
    api_key_env: str | None = None  # the variable holding the endpoint's key (never logged)
    gguf: Path | None = None  # kind "local": the model file (default: the installed one)
    chat_template: str | None = None
    threads: int = 2
    profile: Literal["small", "full"] | None = None
    guardrails: bool | None = None
    # kind "scripted": what the scripted model answers every turn (e.g. a small model's
    # typical faults), instead of its generic default
    scripted_reply: str | None = None

    @property
    def effective_profile(self) -> str:
        return self.profile or ("small" if self.kind == "local" else "full")

    def describe(self) -> str:
        where = {
            "scripted": "scripted LLM"
            + (f" answering {self.scripted_reply!r}" if self.scripted_reply else ""),
            "local": f"local {(self.gguf or local_llm_model()).name}",
            "url": f"{self.url} model={self.model}",
        }[self.kind]
        guard = "default" if self.guardrails is None else str(self.guardrails).lower()
        return f"{where}, profile={self.effective_profile}, guardrails={guard}"


@dataclass
class EvalStack:
    work: Path
    api_url: str
    llm_url: str
    temporal: Client
    backend: Backend
    _restart_llm: Restart | None = None
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    redis_url: str = ""

    async def end_call(self, call_id: str) -> None:
        """Stop a played call and its after-call work: a local server serves one request at a
        time, and the next scenario must not wait behind a synthesis."""
        handle = self.temporal.get_workflow_handle(attributes.workflow_id_for(call_id))
        with suppress(RPCError):
            await handle.terminate("evaluation scenario done")
        if self._restart_llm is not None:
            await self._restart_llm()


class Restart:
    """Stops and starts the local LLM server (dropping any request it was still serving)."""

    def __init__(self, argv: list[str], url: str, log: IO[bytes]) -> None:
        self.argv, self.url, self.log = argv, url, log
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        self.process = _spawn(self.argv, self.log, cwd=ROOT)
        await wait_ready(self.url, LLM_START_TIMEOUT_S)

    async def __call__(self) -> None:
        if self.process is not None:
            _stop([self.process])
        await self.start()

    def stop(self) -> None:
        if self.process is not None:
            _stop([self.process])


def _spawn(
    argv: list[str], log: IO[bytes], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=log)


def _open_logs(work: Path) -> list[IO[bytes]]:
    return [(work / f"{n}.log").open("wb") for n in ("temporal", "llm", "worker", "api")]


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes):
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _wait_http(url: str, processes: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            dead = [p.args for p in processes if p.poll() is not None]
            if dead:
                raise RuntimeError(f"exited while starting: {dead}")
            with suppress(httpx.HTTPError):
                if (await client.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {START_TIMEOUT_S:.0f} s")


async def _set_flags(redis_url: str, flags: dict[str, str]) -> None:
    client = Redis.from_url(redis_url)
    try:
        for name, value in flags.items():
            await client.hset(FLAGS_KEY, name, value)
    finally:
        await client.aclose()


def _llm_env(backend: Backend, llm_url: str) -> dict[str, str]:
    env: dict[str, str] = {}
    key = os.environ.get(backend.api_key_env, "") if backend.api_key_env else "local"
    for which in ("FAST", "SLOW"):
        env[f"CALLCENTER_LLM__{which}__ENDPOINT"] = llm_url
        env[f"CALLCENTER_LLM__{which}__MODEL"] = backend.model
        env[f"CALLCENTER_LLM__{which}__API_KEY"] = key or "none"
        if backend.kind == "local":  # as `make demo` runs the local model
            env[f"CALLCENTER_LLM__{which}__CONTEXT_TOKENS"] = "4096"
            env[f"CALLCENTER_LLM__{which}__REQUEST_TIMEOUT_SEC"] = "120"
    env["CALLCENTER_LLM__PROFILE"] = backend.effective_profile
    if backend.guardrails is not None:
        env["CALLCENTER_LLM__GUARDRAILS"] = str(backend.guardrails).lower()
    return env


@asynccontextmanager
async def running_stack(backend: Backend) -> AsyncIterator[EvalStack]:
    """Everything started (see the module); stopped in reverse order on leaving."""
    work = Path(tempfile.mkdtemp(prefix="evals-"))
    temporal_port, ui_port, api_port = free_port(), free_port(), free_port()
    redis_server = RedisProcess(workdir=work).start()
    processes: list[subprocess.Popen[bytes]] = []
    restart: Restart | None = None
    logs = _open_logs(work)
    temporal_log, llm_log, worker_log, api_log = logs
    try:
        server = dev_server_command(work / "temporal.db", port=temporal_port, ui_port=ui_port)
        processes.append(_spawn(server, temporal_log))
        if backend.kind == "scripted":
            llm_port = free_port()
            scripted = [sys.executable, "-m", "scripted_llm", "--port", str(llm_port)]
            processes.append(_spawn(scripted, llm_log, cwd=ROOT))
            llm_url = f"http://127.0.0.1:{llm_port}/v1"
            await _wait_http(f"http://127.0.0.1:{llm_port}/_requests", processes)
            if backend.scripted_reply is not None:
                async with httpx.AsyncClient() as client:
                    body = {"replies": [], "default": {"text": backend.scripted_reply}}
                    response = await client.post(f"http://127.0.0.1:{llm_port}/_script", json=body)
                    response.raise_for_status()
        elif backend.kind == "local":
            llm_port = free_port()
            argv = llm_server_command(
                backend.gguf or local_llm_model(),
                host="127.0.0.1",
                port=llm_port,
                threads=backend.threads,
                chat_template=backend.chat_template,
            )
            llm_url = f"http://127.0.0.1:{llm_port}/v1"
            restart = Restart(argv, llm_url, llm_log)
            await restart.start()
        else:
            if not backend.url:
                raise ValueError("a url backend needs its url")
            llm_url = backend.url
        env = {
            **os.environ,
            "CALLCENTER_TEMPORAL__ADDRESS": f"127.0.0.1:{temporal_port}",
            "CALLCENTER_TEMPORAL__TASK_QUEUE": TASK_QUEUE,
            "CALLCENTER_REDIS__URL": redis_server.url,
            "CALLCENTER_STORE__SQLITE_PATH": str(work / "calls.sqlite3"),
            "CALLCENTER_SEARCH__SQLITE_PATH": str(work / "search.sqlite3"),
            "CALLCENTER_SMS__OUTBOX_PATH": str(work / "sms.jsonl"),
            "CALLCENTER_FLAGS__REDIS_KEY": FLAGS_KEY,
            "CALLCENTER_API__PORT": str(api_port),
            "LOG_LEVEL": "WARNING",
            **_llm_env(backend, llm_url),
        }
        for log, argv in (
            (worker_log, [sys.executable, str(ROOT / "worker.py")]),
            (api_log, [sys.executable, "-m", "api.main"]),
        ):
            processes.append(_spawn(argv, log, cwd=work, env={**env, "PYTHONPATH": str(ROOT)}))
        if backend.kind != "scripted":
            await _set_flags(redis_server.url, LOCAL_FLAGS)
        api_url = f"http://127.0.0.1:{api_port}"
        await _wait_http(f"{api_url}/liveness", processes)
        temporal = await connect(TemporalSettings(address=f"127.0.0.1:{temporal_port}"))
        yield EvalStack(
            work, api_url, llm_url, temporal, backend, restart, processes, redis_server.url
        )
    finally:
        _stop(processes)
        if restart is not None:
            restart.stop()
        redis_server.stop()
        for log in logs:
            log.close()
