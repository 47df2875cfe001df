"""Capacity of one media gateway process: how many calls it paces cleanly at once.

One gateway (the real `create_app`, with zero-cost fake engines: a VAD that hears nothing,
an STT that returns "", a TTS that returns silence instantly) serves N simulated ACS calls
over real WebSockets. Each phone sends AudioMetadata then a silent AudioData frame every
20 ms in real time and records when each bot frame arrives; a 2.4 s sentence is appended to
every call's Redis stream every 2 s, so the bot speaks without a gap. Per N it prints:
  - jitter: |inter-arrival - 20 ms| of bot frames at the phones, p50 / p99;
  - late: gaps > 40 ms at the phones (a frame > 20 ms after its slot), and the gateway's own
    `call.frames.late` counter (its OpenTelemetry instrument, read from an in-memory reader);
  - gateway CPU seconds per call per second (/proc), and the phones' (this process) CPU.
N grows until the p99 jitter passes 20 ms (`--keep-going`: every N). The phones share the
machine with the gateway: when their CPU nears one core, the numbers measure them too. On a
shared box the CPU per call-second is the steadier figure; the jitter depends on the load.
`--rate 24000` makes the calls 24 kHz (ACS's other format): the VAD and the TTS stay at 16 kHz,
so every frame in and out is resampled, as with a real engine at another rate.

    python bench/gateway_capacity.py [--calls 50 100 200 400] [--seconds 10] [--rate 24000]

`--serve PORT` is the gateway side (run by the benchmark in its own process).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web
from redis.asyncio import Redis
from temporalio.client import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._processes import TASK_QUEUE, cpu_seconds, run_stack, wait_port  # noqa: E402
from bench._report import pct  # noqa: E402
from core import call_secrets, event_loop  # noqa: E402
from core.redis_server import free_port  # noqa: E402
from core.settings import TemporalSettings, get_settings  # noqa: E402
from core.temporal import connect  # noqa: E402
from domain import attributes  # noqa: E402
from domain.call import CallInitiate  # noqa: E402
from domain.contracts import CallInput, SentenceEvent  # noqa: E402
from media_gateway.engines import Engines, Transcript  # noqa: E402
from providers.sentences.redis_stream import RedisSentenceStream  # noqa: E402
from workflows.call import CallWorkflow  # noqa: E402

RATE = 16_000
FRAME_S = 0.02
SENTENCE = " ".join(["word"] * 12)  # 12 words of 200 ms: 2.4 s, appended every 2 s
SENTENCE_EVERY_S = 2.0
WARM_UP_S = 3.0
TICK_GROUPS = 10  # phones send in 10 phases 2 ms apart, like calls that started at random


# --- gateway side ---------------------------------------------------------------------


class ZeroVad:
    """Hears nothing: no turn is ever sent, so the gateway only paces audio."""

    sample_rate = RATE
    frame_samples = 512

    def probability(self, frame: bytes) -> float:  # noqa: ARG002 - the Vad protocol
        return 0.0

    def reset(self) -> None:
        pass


class EmptyStt:
    sample_rate = RATE

    async def transcribe(self, pcm: bytes, *, language: str) -> Transcript:
        return Transcript(text="", language=language, duration_s=len(pcm) / 2 / RATE)


class SilenceTts:
    """Silence as long as the words (200 ms each), at once."""

    sample_rate = RATE

    async def synthesize(
        self,
        text: str,
        *,
        voice: str | None = None,  # noqa: ARG002 - the TextToSpeech protocol
        rate: float = 1.0,
    ) -> AsyncIterator[bytes]:
        yield bytes(round(len(text.split()) * 0.2 / rate * RATE) * 2)


async def serve(port: int) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from media_gateway.app import Speech, create_app
    from media_gateway.telemetry import GatewayTelemetry

    settings = get_settings()
    client = await connect(settings.temporal)
    # Every live call holds a connection in a blocking XREAD; redis-py's default pool stops
    # at 100 connections ("Too many connections"), which would cap the gateway, not pacing.
    redis = Redis.from_url(settings.redis.url, max_connections=2_000)
    reader = InMemoryMetricReader()
    engines = Engines(vad=ZeroVad, stt=EmptyStt(), tts=SilenceTts())
    telemetry = GatewayTelemetry(MeterProvider(metric_readers=[reader]))
    app = create_app(client, Speech(engines=engines, redis=redis, telemetry=telemetry))

    async def counters(_: web.Request) -> web.Response:
        totals: dict[str, float] = {}
        data = reader.get_metrics_data()
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    points = metric.data.data_points
                    totals[metric.name] = sum(getattr(p, "value", 0) for p in points)
        return web.json_response(totals)

    app.router.add_get("/_bench", counters)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


# --- phone side -----------------------------------------------------------------------


def metadata(rate: int) -> str:
    length = round(rate * FRAME_S) * 2
    audio = {"encoding": "PCM", "sampleRate": rate, "channels": 1, "length": length}
    return json.dumps({"kind": "AudioMetadata", "audioMetadata": audio})


def silent_frame(rate: int) -> str:
    data = base64.b64encode(bytes(round(rate * FRAME_S) * 2)).decode()
    return json.dumps({"kind": "AudioData", "audioData": {"data": data, "silent": True}})


class PhoneCall:
    def __init__(self, call_id: str, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.call_id = call_id
        self.socket = socket
        self.arrivals: list[float] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.socket:
            if message.type == aiohttp.WSMsgType.TEXT and '"AudioData"' in message.data[:20]:
                self.arrivals.append(time.monotonic())


async def open_call(
    client: Client, http: aiohttp.ClientSession, port: int, limit: asyncio.Semaphore, rate: int
) -> PhoneCall:
    call_id = str(uuid.uuid4())
    token = call_secrets.media_token(get_settings().telephony.call_secret_key, call_id)
    initiate = CallInitiate(
        phone_number="+33612345678",
        bot_company="Contoso",
        bot_name="Amélie",
        agent_phone_number="+33600000000",
    )
    async with limit:
        await client.start_workflow(
            CallWorkflow.run,
            CallInput(
                call_id=call_id,
                initiate=initiate,
                channel="chat",
            ),
            id=attributes.workflow_id_for(call_id),
            task_queue=TASK_QUEUE,
        )
        socket = await http.ws_connect(f"ws://127.0.0.1:{port}/media/{call_id}/{token}")
        await socket.send_str(metadata(rate))
    return PhoneCall(call_id, socket)


async def tick(calls: list[PhoneCall], offset: float, stop: asyncio.Event, frame: str) -> None:
    """Send one silent frame to each call every 20 ms, on an absolute schedule."""
    start = time.monotonic() + offset
    k = 0
    while not stop.is_set():
        wait = start + k * FRAME_S - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        k += 1
        for call in calls:
            if not call.socket.closed:
                await call.socket.send_str(frame)


async def feed_sentences(redis: Redis, calls: list[PhoneCall], stop: asyncio.Event) -> None:
    """Every 2 s, one sentence per call, spread over the interval."""
    stream = RedisSentenceStream(redis)
    gap = SENTENCE_EVERY_S / max(len(calls), 1)
    index = 0
    while not stop.is_set():
        # A new index each round: the gateway skips a sentence key it already read.
        event = SentenceEvent(turn_id=0, index=index, kind="sentence", text=SENTENCE)
        index += 1
        for call in calls:
            await stream.append(call.call_id, event)
            await asyncio.sleep(gap)


async def level(
    n: int,
    client: Client,
    redis: Redis,
    port: int,
    gateway_pid: int,
    seconds: float,
    rate: int,
) -> tuple[dict[str, float], float]:
    limit = asyncio.Semaphore(25)
    # No connection limit: the default 100 would block the 101st socket (and `/_bench`).
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        calls = await asyncio.gather(
            *(open_call(client, http, port, limit, rate) for _ in range(n))
        )
        stop = asyncio.Event()
        groups = [calls[g::TICK_GROUPS] for g in range(TICK_GROUPS)]
        tasks = [
            asyncio.create_task(tick(group, g * FRAME_S / TICK_GROUPS, stop, silent_frame(rate)))
            for g, group in enumerate(groups)
        ]
        tasks.append(asyncio.create_task(feed_sentences(redis, calls, stop)))
        await asyncio.sleep(WARM_UP_S)
        before = (await (await http.get(f"http://127.0.0.1:{port}/_bench")).json()).get(
            "call.frames.late", 0
        )
        gateway_cpu, own_cpu = cpu_seconds(gateway_pid), cpu_seconds(os.getpid())
        window_start = time.monotonic()
        await asyncio.sleep(seconds)
        window_end = time.monotonic()
        gateway_cpu = cpu_seconds(gateway_pid) - gateway_cpu
        own_cpu = cpu_seconds(os.getpid()) - own_cpu
        after = (await (await http.get(f"http://127.0.0.1:{port}/_bench")).json()).get(
            "call.frames.late", 0
        )
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for call in calls:
            await call.socket.close()
            call.reader.cancel()
    deviations: list[float] = []
    late = 0
    silent_calls = 0
    for call in calls:
        window = [t for t in call.arrivals if window_start <= t <= window_end]
        if len(window) < 2:
            silent_calls += 1
            continue
        gaps = [b - a for a, b in zip(window, window[1:], strict=False)]
        deviations.extend(abs(g - FRAME_S) * 1000 for g in gaps)
        late += sum(1 for g in gaps if g > 2 * FRAME_S)
    elapsed = window_end - window_start
    frames = len(deviations) + n
    return {
        "n": n,
        "frames": frames,
        "expected": n * elapsed / FRAME_S,
        "p50": statistics.median(deviations) if deviations else float("nan"),
        "p99": pct(deviations, 0.99) if deviations else float("nan"),
        "late_phone": late,
        "late_gateway": after - before,
        "cpu_call_s": gateway_cpu / (n * elapsed),
        "gateway_cores": gateway_cpu / elapsed,
        "phones_cores": own_cpu / elapsed,
        "silent_calls": silent_calls,
    }, elapsed


async def measure(args: argparse.Namespace) -> None:
    # The worker answers the gateway's `get_state` queries; the LLM only a silence prompt.
    async with run_stack("bench-gateway-") as stack:
        gateway_port = free_port()
        gateway = stack.spawn([sys.executable, __file__, "--serve", str(gateway_port)], stderr=True)
        await wait_port(gateway_port)
        client = await connect(TemporalSettings(address=stack.temporal_address))
        redis = Redis.from_url(stack.redis_url)
        print(f"calls at {args.rate} Hz, {args.seconds:.0f} s measured per row")
        print(
            f"{'calls':>5} | {'jitter p50':>10} {'p99':>6} (ms) | {'late phone':>10} "
            f"{'gateway':>7} | {'CPU ms/call-s':>13} {'gateway':>7} {'phones':>6} (cores)"
            f" | {'frames':>7}/{'expected':<8}"
        )
        for n in args.calls:
            row, _ = await level(
                n, client, redis, gateway_port, gateway.pid, args.seconds, args.rate
            )
            print(
                f"{n:>5} | {row['p50']:>10.2f} {row['p99']:>6.2f}      | "
                f"{row['late_phone']:>10.0f} {row['late_gateway']:>7.0f} | "
                f"{row['cpu_call_s'] * 1000:>13.2f} {row['gateway_cores']:>7.2f} "
                f"{row['phones_cores']:>6.2f}         | {row['frames']:>7.0f}/"
                f"{row['expected']:<8.0f}",
                flush=True,
            )
            if row["p99"] > 20 and not args.keep_going:
                print(f"p99 jitter above 20 ms at {n} calls: stopping")
                break
            await asyncio.sleep(1)  # let the closed sessions go
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[50, 100, 200, 400])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per N")
    parser.add_argument(
        "--rate",
        type=int,
        choices=[16_000, 24_000],
        default=RATE,
        help="the calls' sample rate (VAD and TTS stay at 16 kHz: 24 kHz calls are resampled)",
    )
    parser.add_argument(
        "--keep-going", action="store_true", help="measure every N, even past 20 ms p99"
    )
    parser.add_argument("--serve", type=int, metavar="PORT", help="run the gateway side")
    args = parser.parse_args()
    if args.serve:
        import logging

        logging.basicConfig(level=logging.WARNING)
        event_loop.run(serve(args.serve))  # as `python -m media_gateway` runs
        return
    asyncio.run(measure(args))
    sys.stdout.flush()
    os._exit(0)  # temporalio may crash at interpreter exit (sdk-python#300)


if __name__ == "__main__":
    main()
