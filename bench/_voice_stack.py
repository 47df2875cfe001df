"""The whole phone stack in one process for `bench/voice_latency.py`, with timing probes.

Assembled as `tests/telephony/test_phone_calls.py::open_phone` does it (tuned dev server,
private Redis, scripted LLM, ACS emulator, worker, API over uvicorn, media gateway), without
importing test code. Nothing in production code is changed; the probes are:

- `Probe`: the `Engines` handed to the gateway. Thin wrappers with the engine interfaces that
  delegate to the engines of the current setup (swapped between calls) and log when each
  transcription and each synthesis started, and when the synthesis yielded its first chunk;
- `PhoneTap`: the emulator's phone for one call. It wraps that call's outgoing audio queue
  (`next_frame`, read by the emulator's real-time send loop) and its media socket's message
  handler, so it knows when the last voiced caller frame went out and when each bot frame
  arrived, on the same `time.time()` clock as the probes, the scripted LLM's `received_at` and
  Redis stream ids.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from aiohttp import web
from redis.asyncio import Redis
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from acs_emulator.runner import AcsEmulator
from api.deps import Services
from api.main import create_app
from core.devserver import TUNED_ARGS, temporal_binary
from core.redis_server import RedisProcess, free_port
from core.settings import Settings
from core.stores import open_store
from domain import attributes
from media_gateway.app import create_app as create_gateway
from media_gateway.engines import Engines, Transcript, Vad, rms
from media_gateway.telemetry import GatewayTelemetry
from media_gateway.wiring import build_speech, warm_phrases
from scripted_llm.runner import ScriptedLlmServer
from worker import build_worker

CUSTOMER = "+33612345678"
AGENT = "+33698765432"
ONE_LANGUAGE = {
    "default_short_code": "en-US",
    "availables": [{"short_code": "en-US", "voice": "en-US-AvaMultilingualNeural"}],
}
AUDIBLE_RMS = 0.003  # of full scale (about -50 dBFS): a received frame the caller can hear


# --- zero-cost engines (the `fake` setup) ---------------------------------------------------


class EnergyVad:
    """Speech when a 20 ms frame's RMS is 0.05 of full scale or more; no model, no state."""

    sample_rate = 16_000
    frame_samples = 320

    def probability(self, frame: bytes) -> float:
        return min(1.0, rms(frame) / 0.05)

    def reset(self) -> None:
        pass


class KnownStt:
    """Returns the text the caller is known to have said, at once."""

    sample_rate = 16_000

    def __init__(self) -> None:
        self.text = ""

    async def transcribe(self, pcm: bytes, *, language: str) -> Transcript:
        return Transcript(text=self.text, language=language, duration_s=len(pcm) / 32_000)


class ToneTts:
    """A short 440 Hz tone in one chunk, at once, whatever the text."""

    sample_rate = 22_050

    def __init__(self, seconds: float = 0.3, level: float = 0.3) -> None:
        t = np.arange(round(seconds * self.sample_rate)) / self.sample_rate
        self._pcm = (np.sin(2 * math.pi * 440 * t) * level * 32767).astype("<i2").tobytes()

    async def synthesize(
        self, text: str, *, voice: str | None = None, rate: float = 1.0
    ) -> AsyncIterator[bytes]:
        del text, voice, rate
        yield self._pcm


def caller_noise(seconds: float, rate: int, level: float = 0.2) -> bytes:
    """The `fake` caller's "speech" for the energy VAD: white noise, voiced to its last sample."""
    samples = np.random.default_rng(1).normal(0, level, round(seconds * rate))
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


# --- timing probes ---------------------------------------------------------------------------


@dataclass
class SttCall:
    start: float
    end: float = 0.0
    text: str = ""


@dataclass
class TtsCall:
    text: str
    start: float
    first_chunk: float = 0.0


@dataclass
class Probe:
    """The gateway's engines: delegate to `current`, log every STT and TTS call."""

    current: Engines
    stt_calls: list[SttCall] = field(default_factory=list)
    tts_calls: list[TtsCall] = field(default_factory=list)

    def engines(self) -> Engines:
        return Engines(vad=self._vad, stt=_TimedStt(self), tts=_TimedTts(self))

    def _vad(self) -> Vad:
        return self.current.vad()


class _TimedStt:
    def __init__(self, probe: Probe) -> None:
        self._probe = probe

    @property
    def sample_rate(self) -> int:
        return self._probe.current.stt.sample_rate

    async def transcribe(self, pcm: bytes, *, language: str) -> Transcript:
        call = SttCall(time.time())
        self._probe.stt_calls.append(call)
        transcript = await self._probe.current.stt.transcribe(pcm, language=language)
        call.end, call.text = time.time(), transcript.text
        return transcript


class _TimedTts:
    def __init__(self, probe: Probe) -> None:
        self._probe = probe

    @property
    def sample_rate(self) -> int:
        return self._probe.current.tts.sample_rate

    async def synthesize(
        self, text: str, *, voice: str | None = None, rate: float = 1.0
    ) -> AsyncIterator[bytes]:
        call = TtsCall(text, time.time())
        self._probe.tts_calls.append(call)
        async for chunk in self._probe.current.tts.synthesize(text, voice=voice, rate=rate):
            if not call.first_chunk:
                call.first_chunk = time.time()
            yield chunk


@dataclass
class PhoneTap:
    """Send and receive timelines of one emulated call (see the module docstring)."""

    voice_end: list[float] = field(default_factory=list)  # last voiced frame of each play
    received: list[tuple[float, float]] = field(default_factory=list)  # (time, RMS) per frame

    def attach(self, call: Any) -> None:
        audio, session = call.audio, call.streaming.session
        next_frame: Callable[[int], tuple[bytes, bool]] = audio.next_frame
        handle: Callable[[str], None] = session._handle

        def tapped_next_frame(size: int) -> tuple[bytes, bool]:
            frame, silent = next_frame(size)
            if not silent and audio.pending_bytes == 0:  # the played audio's last frame
                self.voice_end.append(time.time())  # the send loop sends it right away
            return frame, silent

        def tapped_handle(text: str) -> None:
            now = time.time()
            handle(text)
            if '"AudioData"' in text:
                data = json.loads(text)["audioData"]["data"]
                self.received.append((now, rms(base64.b64decode(data))))

        audio.next_frame = tapped_next_frame
        session._handle = tapped_handle

    def first_frame_after(self, t: float, audible: bool = False) -> float | None:
        for at, level in self.received:
            if at > t and (not audible or level >= AUDIBLE_RMS):
                return at
        return None

    def quiet_for(self, seconds: float) -> bool:
        last = self.received[-1][0] if self.received else 0.0
        return time.time() - last >= seconds


# --- the stack -------------------------------------------------------------------------------


@dataclass
class VoiceStack:
    settings: Settings
    env: WorkflowEnvironment
    redis: Redis
    llm: ScriptedLlmServer
    acs: AcsEmulator
    api: httpx.AsyncClient

    async def call(self) -> tuple[str, str]:
        """Place a call (English only: no language menu); its id and connection id."""
        response = await self.api.post(
            "/call", json={"phone_number": CUSTOMER, "lang": ONE_LANGUAGE}
        )
        response.raise_for_status()
        call_id: str = response.json()["call_id"]
        for _ in range(400):
            state = (await self.api.get(f"/call/{call_id}")).json()["call"]
            if state["status"] == "in_progress" and state["connection_id"]:
                return call_id, state["connection_id"]
            await asyncio.sleep(0.05)
        raise RuntimeError(f"call {call_id} did not connect")

    async def tap(self, connection_id: str) -> PhoneTap:
        """Tap the call's phone once its media stream is open."""
        for _ in range(400):
            call = self.acs.emulator.calls.get(connection_id)
            if call is not None and call.streaming.session is not None:
                tap = PhoneTap()
                tap.attach(call)
                return tap
            await asyncio.sleep(0.025)
        raise RuntimeError(f"no media stream on {connection_id}")

    async def hang_up(self, connection_id: str) -> None:
        await self.acs.client.hang_up(connection_id)


async def _serve_api(app: Any, port: int, stack: AsyncExitStack) -> None:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())

    async def stop() -> None:
        server.should_exit = True
        await task

    stack.push_async_callback(stop)
    for _ in range(500):
        if server.started:
            return
        await asyncio.sleep(0.02)
    raise RuntimeError("the API did not start")


async def open_stack(
    work: Path,
    engines: Engines,
    stack: AsyncExitStack,
    *,
    telemetry: GatewayTelemetry | None = None,
    warm: bool = False,
) -> VoiceStack:
    """Start everything on `stack` (closed in reverse order by the caller).

    `telemetry`: the gateway's instruments (default: the global providers); `warm`: synthesise
    the static phrases before the first call, as `python -m media_gateway` does.
    """
    redis_server = RedisProcess(workdir=work).start()
    stack.callback(redis_server.stop)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        search_attributes=[
            attributes.PHONE_NUMBER,
            attributes.STATUS,
            attributes.BOT_NAME,
            attributes.CLAIM_FILLED,
            attributes.OUTCOME,
        ],
        dev_server_extra_args=list(TUNED_ARGS),
        dev_server_log_level="error",
    )
    stack.push_async_callback(env.shutdown)
    llm = await stack.enter_async_context(ScriptedLlmServer())
    api_port, gateway_port = free_port(), free_port()
    acs = await stack.enter_async_context(
        AcsEmulator(
            time_scale=0.02,
            event_grid_url=f"http://127.0.0.1:{api_port}/eventgrid/events?secret=eg-secret",
        )
    )
    await acs.client.add_phone(CUSTOMER)
    model = {"endpoint": llm.base_url, "model": "fast-model", "api_key": "bench"}
    settings = Settings.model_validate(
        {
            "environment": "test",
            "temporal": {
                "address": env.client.service_client.config.target_host,
                "task_queue": f"voice-{uuid.uuid4().hex[:8]}",
            },
            "redis": {"url": redis_server.url},
            "llm": {"fast": model, "slow": {**model, "model": "slow-model"}},
            "store": {"sqlite_path": work / "calls.sqlite3"},
            "search": {"sqlite_path": work / "search.sqlite3"},
            "sms": {"outbox_path": work / "sms.jsonl", "kind": "acs"},
            "flags": {"redis_key": f"flags:{uuid.uuid4().hex[:8]}", "cache_ttl_sec": 0},
            "telephony": {
                "kind": "acs",
                "public_url": f"http://127.0.0.1:{api_port}",
                "media_url": f"ws://127.0.0.1:{gateway_port}/media",
                "acs": {
                    "endpoint": acs.endpoint,
                    "access_key": acs.access_key,
                    "phone_number": acs.bot_number,
                    "resource_id": acs.resource_id,
                    "jwks_url": acs.jwks_url,
                    "issuer": acs.issuer,
                    "event_grid_secret": "eg-secret",
                },
            },
            "conversation": {"agent_phone_number": AGENT},
        }
    )
    worker = await build_worker(env.client, settings, stack)
    redis = Redis.from_url(redis_server.url)
    stack.push_async_callback(redis.aclose)
    store = await open_store(settings.store)
    stack.push_async_callback(store.close)
    await _serve_api(
        create_app(settings, Services(settings, env.client, store, redis)), api_port, stack
    )
    speech = replace(build_speech(settings, redis, engines), telemetry=telemetry)
    if warm:
        await warm_phrases(speech, settings)
    gateway = create_gateway(env.client, speech)
    runner = web.AppRunner(gateway, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", gateway_port).start()
    stack.push_async_callback(runner.cleanup)
    api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=30)
    stack.push_async_callback(api.aclose)
    task = asyncio.create_task(worker.run())

    async def stop_worker() -> None:
        await worker.shutdown()
        await asyncio.gather(task, return_exceptions=True)

    stack.push_async_callback(stop_worker)
    return VoiceStack(settings, env, redis, llm, acs, api)
