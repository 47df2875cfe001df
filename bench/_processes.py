"""The stack as separate processes, like in production, for `turn_overhead` and `gateway_capacity`.

`run_stack` starts, in a fresh temporary folder: a private Redis, the dev server (tuned as in
`core/devserver.py`), the scripted LLM and, once those listen, the worker. Their output is
dropped. More processes (the gateway) join with `BenchStack.spawn`; on leaving, all of them are
terminated in reverse order (killed after 10 s), then Redis is stopped.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from core.devserver import dev_server_command
from core.redis_server import RedisProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
TASK_QUEUE = "bench"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"port {port} did not open")


@dataclass
class BenchStack:
    """The running processes: `processes` in start order (dev server, LLM, worker, then spawned)."""

    work: Path
    temporal_port: int
    llm_port: int
    redis_url: str
    env: dict[str, str]  # the worker's: `CALLCENTER_*` settings pointing at this stack
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    def spawn(self, command: list[str], *, stderr: bool = False) -> subprocess.Popen[bytes]:
        """Start `command` in the repository with the worker's environment, output dropped (all
        but stderr where `stderr`); it is stopped with the others."""
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=None if stderr else subprocess.DEVNULL,
        )
        self.processes.append(process)
        return process


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in reversed(processes):
        process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@asynccontextmanager
async def run_stack(prefix: str) -> AsyncIterator[BenchStack]:
    """Redis, the dev server, the scripted LLM and the worker, running (see the module)."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    temporal_port, ui_port, llm_port = free_port(), free_port(), free_port()
    redis_server = RedisProcess(workdir=work).start()
    llm_url = f"http://127.0.0.1:{llm_port}/v1"
    env = {
        **os.environ,
        "CALLCENTER_TEMPORAL__ADDRESS": f"127.0.0.1:{temporal_port}",
        "CALLCENTER_TEMPORAL__TASK_QUEUE": TASK_QUEUE,
        "CALLCENTER_REDIS__URL": redis_server.url,
        "CALLCENTER_LLM__FAST__ENDPOINT": llm_url,
        "CALLCENTER_LLM__SLOW__ENDPOINT": llm_url,
        "CALLCENTER_STORE__SQLITE_PATH": str(work / "calls.sqlite3"),
        "CALLCENTER_SEARCH__SQLITE_PATH": str(work / "search.sqlite3"),
        "CALLCENTER_SMS__OUTBOX_PATH": str(work / "sms.jsonl"),
        "LOG_LEVEL": "WARNING",
    }
    stack = BenchStack(work, temporal_port, llm_port, redis_server.url, env)
    quiet = subprocess.DEVNULL
    try:
        # The dev server and the LLM get this process's environment, not the worker's.
        stack.processes.append(
            subprocess.Popen(
                dev_server_command(work / "temporal.db", port=temporal_port, ui_port=ui_port),
                stdout=quiet,
                stderr=quiet,
            )
        )
        stack.processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "scripted_llm", "--port", str(llm_port)],
                cwd=ROOT,
                stdout=quiet,
                stderr=quiet,
            )
        )
        await wait_port(temporal_port)
        await wait_port(llm_port)
        stack.spawn([sys.executable, "worker.py"])
        yield stack
    finally:
        _stop(stack.processes)
        redis_server.stop()
