"""No log line of any process holds a full phone number or a secret.

Every process is real and separate, started as `make dev --emulator` starts them (their own
logging set-up included): the ACS emulator, the scripted LLM, the worker, the API under
uvicorn (its access log on) and a media gateway (`tests.media_gateway.gateway_process`: the
real app with light speech engines). The run places an outbound call whose media streams to
the gateway, answers an inbound call, takes a customer's SMS and refuses a forged callback.
Then everything each process wrote is scanned for the numbers, the per-call callback secrets
and media tokens, the Event Grid secret, the ACS access key, the API key, the payload keys and
any JWT. The log must show that the lines carrying them were written (masked): a scan of a
log that never mentioned them would prove nothing.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import os
import re
import secrets
import sys
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from acs_emulator.client import EmulatorClient
from cli.processes import Services, port_open
from core.redis_server import free_port
from domain.phone import mask
from tests.support.codec import TEST_CODEC

REPO = Path(__file__).resolve().parents[2]
CUSTOMER = "+33612345678"  # the outbound call
CALLER = "+33611112222"  # the inbound call
TEXTER = "+33622223333"  # the SMS
AGENT = "+33698765432"
BOT = "+18005550177"
ONE_LANGUAGE = {
    "default_short_code": "en-US",
    "availables": [{"short_code": "en-US", "voice": "en-US-AvaMultilingualNeural"}],
}
JWT = re.compile(r"eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]+")
E164 = re.compile(r"(?<![\w+%])(?:\+|%2[Bb])\d{8,15}(?!\d)")


def environment(
    tmp: Path, temporal: str, redis_url: str, ports: dict[str, int], secrets_: dict[str, str]
) -> dict[str, str]:
    api = f"http://127.0.0.1:{ports['api']}"
    acs = f"http://127.0.0.1:{ports['acs']}"
    llm = f"http://127.0.0.1:{ports['llm']}/v1"
    codec = {k: v.get_secret_value() for k, v in TEST_CODEC.keys.items()}
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LOG_LEVEL": "INFO",
        "CALLCENTER_ENVIRONMENT": "test",
        "CALLCENTER_TEMPORAL__ADDRESS": temporal,
        "CALLCENTER_TEMPORAL__TASK_QUEUE": f"logscan-{secrets.token_hex(4)}",
        "CALLCENTER_TEMPORAL__CODEC__KEYS": json.dumps(codec),
        "CALLCENTER_TEMPORAL__CODEC__CURRENT_KEY": TEST_CODEC.current_key,
        "CALLCENTER_TEMPORAL__CODEC__PHONE_HASH_KEY": TEST_CODEC.phone_hash_key.get_secret_value(),
        "CALLCENTER_REDIS__URL": redis_url,
        "CALLCENTER_API__PORT": str(ports["api"]),
        "CALLCENTER_API__KEYS": json.dumps([secrets_["api_key"]]),
        "CALLCENTER_LLM__FAST__ENDPOINT": llm,
        "CALLCENTER_LLM__FAST__MODEL": "fast-model",
        "CALLCENTER_LLM__FAST__API_KEY": secrets_["llm_key"],
        "CALLCENTER_LLM__SLOW__ENDPOINT": llm,
        "CALLCENTER_LLM__SLOW__MODEL": "slow-model",
        "CALLCENTER_LLM__SLOW__API_KEY": secrets_["llm_key"],
        "CALLCENTER_STORE__SQLITE_PATH": str(tmp / "calls.sqlite3"),
        "CALLCENTER_SEARCH__SQLITE_PATH": str(tmp / "search.sqlite3"),
        "CALLCENTER_SMS__KIND": "acs",
        "CALLCENTER_FLAGS__REDIS_KEY": f"flags:{secrets.token_hex(4)}",
        "CALLCENTER_CONVERSATION__AGENT_PHONE_NUMBER": AGENT,
        "CALLCENTER_TELEPHONY__KIND": "acs",
        "CALLCENTER_TELEPHONY__PUBLIC_URL": api,
        "CALLCENTER_TELEPHONY__MEDIA_URL": f"ws://127.0.0.1:{ports['gateway']}/media",
        "CALLCENTER_TELEPHONY__ACS__ENDPOINT": acs,
        "CALLCENTER_TELEPHONY__ACS__ACCESS_KEY": secrets_["acs_key"],
        "CALLCENTER_TELEPHONY__ACS__PHONE_NUMBER": BOT,
        "CALLCENTER_TELEPHONY__ACS__RESOURCE_ID": "00000000-0000-4000-8000-00000000ac51",
        "CALLCENTER_TELEPHONY__ACS__JWKS_URL": f"{acs}/calling/keys",
        "CALLCENTER_TELEPHONY__ACS__EVENT_GRID_SECRET": secrets_["event_grid"],
    }


@pytest.mark.timeout(300)
async def test_no_log_line_holds_a_number_or_a_secret(
    temporal_env: WorkflowEnvironment, redis_url: str, tmp_path: Path
) -> None:
    ports = {name: free_port() for name in ("api", "acs", "llm", "gateway")}
    found = {
        "api_key": secrets.token_urlsafe(32),
        "llm_key": secrets.token_urlsafe(32),
        "acs_key": base64.b64encode(secrets.token_bytes(64)).decode(),  # as Azure issues them
        "event_grid": secrets.token_urlsafe(24),
    }
    temporal = temporal_env.client.service_client.config.target_host
    env = environment(tmp_path, temporal, redis_url, ports, found)
    api_url, acs_url = f"http://127.0.0.1:{ports['api']}", f"http://127.0.0.1:{ports['acs']}"
    services = Services(tmp_path / "logs", env)
    py = sys.executable
    try:
        services.spawn("llm", [py, "-m", "scripted_llm", "--port", str(ports["llm"])])
        services.spawn(
            "acs-emulator",
            [py, "-m", "acs_emulator", "--port", str(ports["acs"]),
             "--access-key", found["acs_key"],
             "--resource-id", env["CALLCENTER_TELEPHONY__ACS__RESOURCE_ID"],
             "--bot-number", BOT, "--time-scale", "0.05",
             "--event-grid-url", f"{api_url}/eventgrid/events?secret={found['event_grid']}"],
        )  # fmt: skip
        services.spawn(
            "media-gateway",
            [py, "-m", "tests.media_gateway.gateway_process", str(ports["gateway"]), temporal,
             redis_url, "I had an accident"],
        )  # fmt: skip
        services.spawn("worker", [py, "-m", "worker"])
        services.spawn("api", [py, "-m", "api.main"])
        for name, port in [("api", "api"), ("acs-emulator", "acs"), ("media-gateway", "gateway")]:
            ready = functools.partial(port_open, "127.0.0.1", ports[port])
            await asyncio.to_thread(services.wait, name, ready, 90)
        try:
            found.update(
                await _a_call_an_inbound_call_an_sms_and_a_forged_callback(
                    api_url, acs_url, found["api_key"]
                )
            )
        except (AssertionError, TimeoutError) as exc:
            tails = {p.stem: p.read_text()[-1500:] for p in (tmp_path / "logs").glob("*.log")}
            logged = "\n".join(f"== {k}\n{v}" for k, v in tails.items())
            raise AssertionError(f"{exc}\n{logged}") from exc
    finally:
        await asyncio.to_thread(services.stop)

    logs = {p.stem: p.read_text(errors="replace") for p in (tmp_path / "logs").glob("*.log")}
    everything = "\n".join(logs.values())
    # The lines that carry them were written, masked: the scan below looks at real traffic.
    assert "/eventgrid/events?secret=[redacted]" in logs["api"], logs["api"][-3000:]
    assert re.search(r"/communicationservices/callback/[\w-]+/\[redacted\]", logs["api"])
    assert mask(TEXTER) in logs["acs-emulator"]  # "sms to +3362…3333": masked by the filter
    assert mask(CALLER) in logs["api"]  # "incoming call from +3361…2222"

    leaks: list[str] = []
    for name, text in logs.items():
        for line in text.splitlines():
            hits = [k for k, v in found.items() if v in line]
            hits += [n for n in (CUSTOMER, CALLER, TEXTER, AGENT, BOT) if n in line]
            hits += ["E.164"] if E164.search(line) else []
            hits += ["JWT"] if JWT.search(line) else []
            hits += [
                f"codec key {k}" for k, v in TEST_CODEC.keys.items() if v.get_secret_value() in line
            ]
            if hits:
                leaks.append(f"{name}: {hits}: {line[:300]}")
    assert not leaks, f"{len(leaks)} log lines leak:\n" + "\n".join(leaks[:20])
    assert len(everything.splitlines()) > 50  # the processes did log


async def _a_call_an_inbound_call_an_sms_and_a_forged_callback(
    api_url: str, acs_url: str, api_key: str
) -> dict[str, str]:
    """The traffic; returns the per-call secrets it saw (to be found in no log)."""
    seen: dict[str, str] = {}
    headers = {"X-API-Key": api_key}
    async with (
        EmulatorClient(acs_url) as phones,
        httpx.AsyncClient(base_url=api_url, headers=headers, timeout=30) as api,
    ):
        for number in (CUSTOMER, CALLER, TEXTER):
            await phones.add_phone(number)
        # An outbound call: placed, answered, its media streamed to the gateway.
        response = await api.post("/call", json={"phone_number": CUSTOMER, "lang": ONE_LANGUAGE})
        assert response.status_code == 201, response.text
        call_id = response.json()["call_id"]
        record = await phones.wait_for_call(
            CUSTOMER, lambda c: c.media.connected and c.media.frames_sent > 5, timeout=60
        )
        assert record.callback_uri is not None and record.media.transport_url is not None
        seen["callback_secret"] = record.callback_uri.rstrip("/").rsplit("/", 1)[1]
        seen["media_token"] = record.media.transport_url.rstrip("/").rsplit("/", 1)[1]
        # A forged callback: the right call, a made-up secret.
        seen["forged_secret"] = secrets.token_urlsafe(24)
        forged = await api.post(
            f"/communicationservices/callback/{call_id}/{seen['forged_secret']}",
            json=[{"type": "Microsoft.Communication.CallConnected", "data": {}}],
        )
        assert forged.status_code in (401, 403, 404), forged.text
        # An inbound call, answered.
        dial = await phones.dial(CALLER)
        assert dial.delivered, dial.detail
        await phones.wait_for_state(dial.connection_id, "connected", timeout=60)
        # A customer's text, answered by text.
        sms = await phones.send_sms_to_bot(TEXTER, f"Is my claim filed? Call me on {TEXTER}")
        assert sms.delivered, sms
        for _ in range(300):
            if await phones.sms_sent(TEXTER):
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the bot did not answer the SMS")
        for connection in (record.connection_id, dial.connection_id):
            await phones.hang_up(connection)
        for connection in (record.connection_id, dial.connection_id):
            await phones.wait_for_state(connection, "disconnected", timeout=30)
    return seen
