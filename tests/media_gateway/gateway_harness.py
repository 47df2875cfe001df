"""A live media gateway for input tests: the real `create_app` on a real port, real Temporal
(calls are real `CallWorkflow`s, their media tokens checked by query), real Redis, a worker
and the scripted LLM; the speech engines are the deterministic fakes of `fakes.py`, with an
STT that keeps the audio it was given (to check that no sample moved)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from redis.asyncio import Redis
from temporalio.client import Client

from core import call_secrets
from core.redis_server import free_port
from core.settings import Settings
from domain import attributes
from domain.call import CallInitiate, CallState
from domain.contracts import CallInput
from media_gateway.app import SESSIONS, Session, Speech
from media_gateway.app import create_app as create_gateway
from media_gateway.engines import Engines, Transcript
from scripted_llm.runner import ScriptedLlmServer
from tests.conftest import make_settings
from tests.media_gateway.fakes import EnergyVad, ToneTts
from worker import build_worker
from workflows.call import CallWorkflow

REPO = Path(__file__).resolve().parents[2]
RATE = 16_000
FRAME_BYTES = RATE // 50 * 2  # 20 ms


class RecordingStt:
    """Answers `text` for every utterance and keeps each utterance's audio."""

    sample_rate = RATE

    def __init__(self, text: str) -> None:
        self.text = text
        self.heard: list[bytes] = []

    async def transcribe(self, pcm: bytes, *, language: str) -> Transcript:
        self.heard.append(pcm)
        return Transcript(text=self.text, language=language, duration_s=len(pcm) / 2 / RATE)


@dataclass
class LiveGateway:
    client: Client
    settings: Settings
    app: web.Application | None  # None: the gateway runs in a process of its own, `pid`
    port: int
    stt: RecordingStt | None
    llm: ScriptedLlmServer
    pid: int | None = None
    calls: list[str] = field(default_factory=list)

    @property
    def sessions(self) -> dict[str, list[Session]]:
        assert self.app is not None, "the gateway runs in another process"
        return self.app[SESSIONS]

    async def heard(self) -> list[bytes]:
        """The audio of each utterance the gateway's STT was given."""
        if self.stt is not None:
            return self.stt.heard
        async with aiohttp.ClientSession() as http:
            reply = await http.get(f"http://127.0.0.1:{self.port}/_heard")
            return [base64.b64decode(x) for x in await reply.json()]

    async def redis_in_use(self) -> int:
        """Redis connections the gateway process has checked out of its pool."""
        async with aiohttp.ClientSession() as http:
            reply = await http.get(f"http://127.0.0.1:{self.port}/_redis")
            in_use: int = (await reply.json())["in_use"]
            return in_use

    async def kept(self, call_id: str) -> list[dict[str, Any]]:
        """What the gateway keeps of `call_id`'s sessions (closed, frames)."""
        if self.app is not None:
            return [{"closed": s.closed, "frames": s.frames} for s in self.sessions[call_id]]
        async with aiohttp.ClientSession() as http:
            reply = await http.get(f"http://127.0.0.1:{self.port}/_sessions/{call_id}")
            kept: list[dict[str, Any]] = await reply.json()
            return kept

    async def start_call(self) -> tuple[str, str]:
        """A new call's workflow (text channel: no telephony) and its media token."""
        call_id = str(uuid.uuid4())
        token = call_secrets.media_token(self.settings.telephony.call_secret_key, call_id)
        initiate = CallInitiate(
            phone_number="+33612345678",
            bot_company="Contoso",
            bot_name="Amélie",
            agent_phone_number="+33600000000",
        )
        await self.client.start_workflow(
            CallWorkflow.run,
            CallInput(
                call_id=call_id,
                initiate=initiate,
                channel="chat",
            ),
            id=attributes.workflow_id_for(call_id),
            task_queue=self.settings.temporal.task_queue,
        )
        self.calls.append(call_id)
        return call_id, token

    async def state(self, call_id: str) -> CallState:
        handle = self.client.get_workflow_handle_for(
            CallWorkflow.run, attributes.workflow_id_for(call_id)
        )
        return await handle.query(CallWorkflow.get_state)

    def url(self, call_id: str, token: str) -> str:
        return f"ws://127.0.0.1:{self.port}/media/{call_id}/{token}"


@asynccontextmanager
async def live_gateway(
    client: Client,
    redis_url: str,
    llm: ScriptedLlmServer,
    tmp_path: Path,
    text: str,
    *,
    own_process: bool = False,
) -> AsyncIterator[LiveGateway]:
    """The gateway in this process, or in its own (`gateway_process`: its memory alone)."""
    settings = make_settings(tmp_path, redis_url, llm, client.service_client.config.target_host)
    async with AsyncExitStack() as stack:
        worker = await build_worker(client, settings, stack)
        port = free_port()
        if own_process:
            pid = await _spawn_gateway(stack, port, settings, text, tmp_path / "gateway.log")
            gateway = LiveGateway(client, settings, None, port, None, llm, pid)
        else:
            redis = Redis.from_url(redis_url)
            stack.push_async_callback(redis.aclose)
            stt = RecordingStt(text)
            engines = Engines(vad=EnergyVad, stt=stt, tts=ToneTts())
            app = create_gateway(
                client,
                Speech(engines=engines, redis=redis),
                call_secret_key=settings.telephony.call_secret_key,
            )
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            stack.push_async_callback(runner.cleanup)
            gateway = LiveGateway(client, settings, app, port, stt, llm)
        task = asyncio.create_task(worker.run())
        try:
            yield gateway
        finally:
            for call_id in gateway.calls:
                with contextlib.suppress(Exception):
                    handle = client.get_workflow_handle(attributes.workflow_id_for(call_id))
                    await handle.terminate("test over")
            await worker.shutdown()
            await asyncio.gather(task, return_exceptions=True)


def _popen(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)


async def _spawn_gateway(
    stack: AsyncExitStack, port: int, settings: Settings, text: str, log: Path
) -> int:
    command = [
        sys.executable, "-m", "tests.media_gateway.gateway_process", str(port),
        settings.temporal.address, settings.redis.url, text,
    ]  # fmt: skip
    process = _popen(command, log)

    def stop() -> None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    stack.callback(stop)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited; its output is in {log}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return process.pid
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError("the gateway did not listen within 60 s")


def metadata(rate: Any = RATE, **fields: Any) -> str:
    meta = {"encoding": "PCM", "sampleRate": rate, "channels": 1, "length": 640, **fields}
    return json.dumps({"kind": "AudioMetadata", "audioMetadata": meta})


def audio(pcm: bytes, silent: bool = False) -> str:
    data = base64.b64encode(pcm).decode()
    return json.dumps({"kind": "AudioData", "audioData": {"data": data, "silent": silent}})


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of a process (Linux), MB."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@dataclass
class Closed:
    code: int | None
    reason: str
    seconds: float  # from the first message sent to the close frame


async def send_until_closed(
    http: aiohttp.ClientSession, url: str, messages: Sequence[str | bytes], timeout: float = 15
) -> Closed:
    """Send `messages` on a fresh media socket, then wait for the gateway's close frame."""
    async with http.ws_connect(url) as socket:
        started = time.monotonic()
        for message in messages:
            if socket.closed:
                break
            with contextlib.suppress(ConnectionResetError):
                if isinstance(message, bytes):
                    await socket.send_bytes(message)
                else:
                    await socket.send_str(message)
        deadline = started + timeout
        while True:
            try:
                reply = await socket.receive(timeout=max(deadline - time.monotonic(), 0.001))
            except TimeoutError:
                return Closed(None, f"still open after {timeout} s", time.monotonic() - started)
            if reply.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING):
                return Closed(reply.data, str(reply.extra or ""), time.monotonic() - started)
            if reply.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                # The socket died without a close frame (what an uncaught exception does).
                return Closed(None, "no close frame", time.monotonic() - started)
