"""The local OpenAI-compatible LLM server: llama.cpp's own server, from the xllamacpp wheel.

It always runs as a separate process (`python -m core.llm_server ...`): llama.cpp's ggml must
never share a process with onnxruntime or piper (their libraries clash, see
`reference/offline-models.md`). The project talks to it like to any OpenAI endpoint
(`llm.fast.endpoint: http://HOST:PORT/v1`), through `providers.llm.OpenAiChat`.

    argv = llm_server_command(local_llm_model(), host="127.0.0.1", port=8081)
    ... start argv as a subprocess ...
    await wait_ready("http://127.0.0.1:8081/v1", timeout=60)
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

import httpx

from providers.llm.chat_templates import CHAT_TEMPLATES
from providers.llm.models import local_llm_model

__all__ = [
    "LlmServerError",
    "llm_server_command",
    "local_llm_model",
    "running_llm_server",
    "wait_ready",
]

# The name the server answers to in /v1/models; llama.cpp serves one model whatever is asked.
MODEL_ALIAS = "local"
# KV caches of earlier prompts kept in RAM, restored when a conversation comes back to the
# slot (llama.cpp's default is 8 GiB; a 4k context of the 0.5B model is about 50 MB).
CACHE_RAM_MIB = 256
_POLL_SEC = 0.2
STOP_TIMEOUT_SEC = 10.0


class LlmServerError(RuntimeError):
    """The local LLM server did not start or did not answer in time."""


def llm_server_command(
    model: Path,
    *,
    host: str,
    port: int,
    threads: int = 2,
    ctx: int = 4096,
    chat_template: str | None = None,
) -> list[str]:
    """The argv that runs the server for `model` on host:port (a Python launcher).

    `chat_template` names a fixed template of `providers.llm.chat_templates` (e.g. "qwen2.5")
    for a GGUF whose own template is broken; None uses the GGUF's.
    """
    if chat_template is not None and chat_template not in CHAT_TEMPLATES:
        raise ValueError(f"unknown chat template {chat_template!r}; known: {list(CHAT_TEMPLATES)}")
    argv = [
        sys.executable,
        "-m",
        "core.llm_server",
        "--model",
        str(model),
        "--host",
        host,
        "--port",
        str(port),
        "--threads",
        str(threads),
        "--ctx",
        str(ctx),
    ]
    if chat_template is not None:
        argv += ["--chat-template", chat_template]
    return argv


async def wait_ready(base_url: str, timeout: float) -> None:  # noqa: ASYNC109 (the API)
    """Poll `{base_url}/models` until the server has loaded its model (200), or raise.

    `base_url` is the OpenAI base URL (`http://HOST:PORT/v1`; a bare `http://HOST:PORT` works
    too). While loading, llama.cpp answers 503; before it binds, the connection is refused.
    """
    url = _models_url(base_url)
    deadline = time.monotonic() + timeout
    last = "no answer"
    async with httpx.AsyncClient(timeout=2.0) as client:
        while True:
            try:
                response = await client.get(url)
                if response.status_code == 200 and response.json().get("data"):
                    return
                last = f"HTTP {response.status_code}: {response.text[:200]}"
            except (httpx.HTTPError, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise LlmServerError(
                    f"LLM server at {url} not ready after {timeout:.0f} s ({last})"
                )
            await asyncio.sleep(_POLL_SEC)


def _models_url(base_url: str) -> str:
    root = base_url.rstrip("/")
    return f"{root}/models" if root.endswith("/v1") else f"{root}/v1/models"


@asynccontextmanager
async def running_llm_server(
    model: Path,
    *,
    host: str,
    port: int,
    threads: int = 2,
    ctx: int = 4096,
    chat_template: str | None = None,
    ready_timeout: float = 120.0,
    log: IO[bytes] | None = None,
) -> AsyncIterator[str]:
    """Start the server subprocess, wait until it is ready, yield its base URL, stop it.

    The server's log goes to `log` (discarded when None).
    """
    argv = llm_server_command(
        model, host=host, port=port, threads=threads, ctx=ctx, chat_template=chat_template
    )
    out = log if log is not None else asyncio.subprocess.DEVNULL
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=out, stderr=asyncio.subprocess.STDOUT
    )
    base_url = f"http://{host}:{port}/v1"
    try:
        ready = asyncio.create_task(wait_ready(base_url, ready_timeout))
        exited = asyncio.create_task(process.wait())
        await asyncio.wait([ready, exited], return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            raise LlmServerError(f"LLM server exited with {process.returncode} while starting")
        exited.cancel()
        ready.result()
        yield base_url
    finally:
        await _stop(process)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SEC)
    except TimeoutError:
        process.kill()
        await process.wait()


# --- the launcher, run as `python -m core.llm_server` -------------------------------------


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve a GGUF model with llama.cpp's server.")
    parser.add_argument("--model", type=Path, help="GGUF file (default: the installed model)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--chat-template", choices=sorted(CHAT_TEMPLATES))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Load the model, serve until SIGTERM or SIGINT (or until the parent process dies)."""
    stop = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # delivered to sigwait below, not a handler
    if not _exit_with_parent():
        return 0
    args = _parse(argv)
    model = args.model or local_llm_model()
    if not model.is_file():
        sys.stderr.write(f"error: model file {model} does not exist\n")
        return 2
    # Imported here: a process that only builds the argv never loads llama.cpp.
    import xllamacpp  # type: ignore[import-untyped]

    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.model_alias = {MODEL_ALIAS}
    params.hostnames = [args.host]
    params.port = args.port
    params.n_ctx = args.ctx
    params.n_parallel = 1  # one call at a time; a second request waits for the slot
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.cache_ram_mib = CACHE_RAM_MIB
    params.use_jinja = True  # the GGUF's chat template, which knows tools and tool results
    if args.chat_template:
        params.chat_template = CHAT_TEMPLATES[args.chat_template]
    server = xllamacpp.Server(params)
    sys.stderr.write(f"llm server: {model.name} on {server.listening_address}\n")
    sys.stderr.flush()
    signal.sigwait(stop)
    return 0


def _exit_with_parent() -> bool:
    """On Linux, get SIGTERM when the process that started this one dies: no orphan server
    keeps the port and 0.5-1 GB of memory after a crashed or killed demo.

    False when the parent is already gone (this process was handed to init).
    """
    if sys.platform != "linux":
        return True
    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)
    return os.getppid() != 1


if __name__ == "__main__":
    sys.exit(main())
