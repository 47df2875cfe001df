"""`make dev`: the Temporal dev server, Redis (when none answers), worker and API.

Prints the URLs, then waits; Ctrl-C (or any process dying) stops everything it started.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from cli.processes import ServiceFailed, Services, port_open
from core.devserver import dev_server_command
from core.redis_server import RedisProcess, answers
from core.settings import get_settings

VAR = Path("var")
# Replies keyed on words of the caller's text ("accident", "Lyon", "name", "bye").
DEMO_SCRIPT = Path(__file__).resolve().parent.parent / "scripted_llm/examples/claim_demo.json"


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


def emulator_command(api_url: str, port: int = EMULATOR_PORT) -> list[str]:
    """The ACS emulator on `port` with the fixed identity, its events posted to the API."""
    return [
        sys.executable, "-m", "acs_emulator", "--port", str(port),
        "--access-key", EMULATOR_KEY, "--resource-id", EMULATOR_RESOURCE,
        "--bot-number", EMULATOR_BOT_NUMBER,
        "--event-grid-url", f"{api_url}/eventgrid/events?secret={EVENT_GRID_SECRET}",
    ]  # fmt: skip


def run_dev(*, scripted_llm: bool = False, emulator: bool = False) -> int:
    settings = get_settings()
    VAR.mkdir(exist_ok=True)
    services = Services(VAR / "logs")
    redis_process: RedisProcess | None = None
    api_url = f"http://{settings.api.host}:{settings.api.port}"

    try:
        host, _, port = settings.temporal.address.rpartition(":")
        ui_port = urlparse(settings.temporal.ui_url).port or 8233
        services.spawn(
            "temporal",
            dev_server_command(
                VAR / "temporal.db",
                port=int(port),
                ui_port=ui_port,
                ip=host,
                codec_endpoint=f"{api_url}/codec",
            ),
        )
        redis_url = urlparse(settings.redis.url)
        redis_host, redis_port = redis_url.hostname or "127.0.0.1", redis_url.port or 6379
        if not answers(redis_host, redis_port):
            redis_process = RedisProcess(port=redis_port, workdir=VAR).start()
            print(f"redis     started on {redis_host}:{redis_port} (none was running)")
        if scripted_llm:
            llm = urlparse(settings.llm.fast.endpoint)
            services.spawn(
                "scripted-llm",
                [sys.executable, "-m", "scripted_llm", "--host", llm.hostname or "127.0.0.1",
                 "--port", str(llm.port or 8765), "--script", str(DEMO_SCRIPT)],
            )  # fmt: skip
        if emulator:
            gateway_port = settings.telephony.gateway_port
            services.env.update(emulator_environment(api_url, gateway_port))
            services.spawn("acs-emulator", emulator_command(api_url))
        services.wait("temporal", lambda: port_open(host, int(port)), 60)
        if emulator:
            services.spawn("media-gateway", [sys.executable, "-m", "media_gateway"])
        services.spawn("worker", [sys.executable, "-m", "worker"])
        services.spawn("api", [sys.executable, "-m", "api.main"])
        services.wait("api", lambda: port_open(settings.api.host, settings.api.port), 60)
        print(f"temporal  {settings.temporal.address}   UI {settings.temporal.ui_url}")
        print(f"codec     {api_url}/codec   (the UI decrypts payloads through it)")
        print(f"api       {api_url}/docs")
        print(f"llm       {settings.llm.fast.endpoint} ({settings.llm.fast.model})")
        if emulator:
            acs_url = f"http://127.0.0.1:{EMULATOR_PORT}"
            print(f"acs       emulator on {acs_url} (bot {EMULATOR_BOT_NUMBER})")
            print(f"softphone {acs_url}/softphone   (call the bot from the browser)")
        print(f"logs      {services.logs}/")
        print("talk to a new call with: make chat      (Ctrl-C stops everything)")
        while True:
            services.check()
            time.sleep(0.5)
    except ServiceFailed as exc:
        print(exc)
        return 1
    except KeyboardInterrupt:
        print("\nstopping")
        return 0
    finally:
        services.stop()
        if redis_process is not None:
            redis_process.stop()
