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


# Fixed identity of the local ACS emulator in `make dev` (it is not a secret: loopback only).
EMULATOR_PORT = 8100
EMULATOR_KEY = "ZGV2LWtleS1mb3ItdGhlLWxvY2FsLWFjcy1lbXVsYXRvci1vbmx5LW5vdC1hLXNlY3JldA=="
EMULATOR_RESOURCE = "00000000-0000-4000-8000-00000000ac50"
EMULATOR_BOT_NUMBER = "+18005550100"
EVENT_GRID_SECRET = "dev-event-grid"


def emulator_environment(api_url: str, gateway_port: int) -> dict[str, str]:
    """Settings (as environment) pointing the worker, API and gateway at the emulator."""
    acs = f"http://127.0.0.1:{EMULATOR_PORT}"
    return {
        "CALLCENTER_TELEPHONY__KIND": "acs",
        "CALLCENTER_TELEPHONY__PUBLIC_URL": api_url,
        "CALLCENTER_TELEPHONY__MEDIA_URL": f"ws://127.0.0.1:{gateway_port}/media",
        "CALLCENTER_TELEPHONY__ACS__ENDPOINT": acs,
        "CALLCENTER_TELEPHONY__ACS__ACCESS_KEY": EMULATOR_KEY,
        "CALLCENTER_TELEPHONY__ACS__PHONE_NUMBER": EMULATOR_BOT_NUMBER,
        "CALLCENTER_TELEPHONY__ACS__RESOURCE_ID": EMULATOR_RESOURCE,
        "CALLCENTER_TELEPHONY__ACS__JWKS_URL": f"{acs}/calling/keys",
        "CALLCENTER_TELEPHONY__ACS__EVENT_GRID_SECRET": EVENT_GRID_SECRET,
    }


def run_dev(*, scripted_llm: bool = False, emulator: bool = False) -> int:
    settings = get_settings()
    VAR.mkdir(exist_ok=True)
    logs = VAR / "logs"
    logs.mkdir(exist_ok=True)
    started: list[tuple[str, subprocess.Popen[bytes]]] = []
    redis_process: RedisProcess | None = None

    env = dict(os.environ)
    api_url = f"http://{settings.api.host}:{settings.api.port}"

    def spawn(name: str, command: list[str]) -> None:
        log = (logs / f"{name}.log").open("ab")
        started.append(
            (name, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env))
        )

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
        if emulator:
            gateway_port = settings.telephony.gateway_port
            env.update(emulator_environment(api_url, gateway_port))
            spawn(
                "acs-emulator",
                [sys.executable, "-m", "acs_emulator", "--port", str(EMULATOR_PORT),
                 "--access-key", EMULATOR_KEY, "--resource-id", EMULATOR_RESOURCE,
                 "--bot-number", EMULATOR_BOT_NUMBER,
                 "--event-grid-url", f"{api_url}/eventgrid/events?secret={EVENT_GRID_SECRET}"],
            )  # fmt: skip
        _wait_port(host, int(port), 60, "Temporal")
        if emulator:
            spawn("media-gateway", [sys.executable, "-m", "media_gateway"])
        spawn("worker", [sys.executable, "worker.py"])
        spawn("api", [sys.executable, "-m", "api.main"])
        _wait_port(settings.api.host, settings.api.port, 60, "API")
        print(f"temporal  {settings.temporal.address}   UI {settings.temporal.ui_url}")
        print(f"api       http://{settings.api.host}:{settings.api.port}/docs")
        print(f"llm       {settings.llm.fast.endpoint} ({settings.llm.fast.model})")
        if emulator:
            acs_url = f"http://127.0.0.1:{EMULATOR_PORT}"
            print(f"acs       emulator on {acs_url} (bot {EMULATOR_BOT_NUMBER})")
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
