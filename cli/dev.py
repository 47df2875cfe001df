"""`make dev`: the Temporal dev server, Redis (when none answers), worker and API.

Prints the URLs, then waits; Ctrl-C (or any process dying) stops everything it started.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from core.devserver import dev_server_command
from core.redis_server import RedisProcess, answers
from core.settings import get_settings

VAR = Path("var")
# Replies keyed on words of the caller's text ("accident", "Lyon", "name", "bye").
DEMO_SCRIPT = Path(__file__).resolve().parent.parent / "scripted_llm/examples/claim_demo.json"


def _wait_port(host: str, port: int, timeout: float, name: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{name} did not open {host}:{port} within {timeout:.0f} s")


def run_dev(*, scripted_llm: bool = False) -> int:
    settings = get_settings()
    VAR.mkdir(exist_ok=True)
    logs = VAR / "logs"
    logs.mkdir(exist_ok=True)
    started: list[tuple[str, subprocess.Popen[bytes]]] = []
    redis_process: RedisProcess | None = None

    def spawn(name: str, command: list[str]) -> None:
        log = (logs / f"{name}.log").open("ab")
        started.append((name, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)))

    try:
        host, _, port = settings.temporal.address.rpartition(":")
        ui_port = urlparse(settings.temporal.ui_url).port or 8233
        spawn(
            "temporal",
            dev_server_command(VAR / "temporal.db", port=int(port), ui_port=ui_port, ip=host),
        )
        redis_url = urlparse(settings.redis.url)
        redis_host, redis_port = redis_url.hostname or "127.0.0.1", redis_url.port or 6379
        if not answers(redis_host, redis_port):
            redis_process = RedisProcess(port=redis_port, workdir=VAR).start()
            print(f"redis     started on {redis_host}:{redis_port} (none was running)")
        if scripted_llm:
            llm = urlparse(settings.llm.fast.endpoint)
            spawn(
                "scripted-llm",
                [sys.executable, "-m", "scripted_llm", "--host", llm.hostname or "127.0.0.1",
                 "--port", str(llm.port or 8765), "--script", str(DEMO_SCRIPT)],
            )  # fmt: skip
        _wait_port(host, int(port), 60, "Temporal")
        spawn("worker", [sys.executable, "worker.py"])
        spawn("api", [sys.executable, "-m", "api.main"])
        _wait_port(settings.api.host, settings.api.port, 60, "API")
        print(f"temporal  {settings.temporal.address}   UI {settings.temporal.ui_url}")
        print(f"api       http://{settings.api.host}:{settings.api.port}/docs")
        print(f"llm       {settings.llm.fast.endpoint} ({settings.llm.fast.model})")
        print(f"logs      {logs}/")
        print("talk to a new call with: make chat      (Ctrl-C stops everything)")
        while True:
            for name, process in started:
                if process.poll() is not None:
                    print(f"{name} exited with {process.returncode}; see {logs}/{name}.log")
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nstopping")
        return 0
    finally:
        for _, process in reversed(started):
            if process.poll() is None:
                process.send_signal(signal.SIGINT if os.name == "posix" else signal.SIGTERM)
        for _, process in reversed(started):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        if redis_process is not None:
            redis_process.stop()
