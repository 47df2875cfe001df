"""Greeting time to first audio: the media stream opens → the greeting's first frame.

The whole phone stack runs in this process (`bench/_voice_stack.py`: tuned dev server, Redis,
scripted LLM, ACS emulator, worker, API, media gateway with Silero, Whisper and Piper). Calls
are placed one after the other through `POST /call`; the emulated phone answers, ACS sends
`CallConnected` (the workflow writes the greeting to the call's sentence stream) and opens the
media WebSocket at the same time, as real ACS does. Each call is hung up once the greeting
started. Two setups:

  cached    the default bot name: the greeting was synthesised when the gateway started
            (`warm_phrases`), so it is replayed from memory;
  uncached  a bot name of its own per call: the greeting is a new sentence, synthesised by
            Piper on the spot (the cost without the phrase cache, or for a per-call persona).

Timestamps (`time.time()`; the gateway's come from its `gateway.greeting` span, recorded by
an in-memory OpenTelemetry exporter, the phone's from wrapping the emulator's media socket):
  open      the phone's media socket is connected (t = 0 of each row);
  accept    the gateway accepted the socket (before checking the call's media token);
  session   the call's session is created (AudioMetadata read, token checked);
  started   the session read the call, the flags and the stream position;
  written   the greeting's entry in Redis (the workflow's `speak` activity);
  read      the gateway read it from the stream;
  tts       the first synthesised (or cached) chunk;
  sent      the gateway sent the first frame (the `call.greeting.latency` metric ends here);
  heard     the phone received it.
Each column is the time since `open`; `total` = heard. Target: total <= 300 ms.

    python bench/greeting_latency.py [--calls 20] [--setups cached uncached]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from acs_emulator import media as emulator_media  # noqa: E402
from bench._report import local_engines, pct, run, wait_until  # noqa: E402
from bench._voice_stack import CUSTOMER, ONE_LANGUAGE, VoiceStack, open_stack  # noqa: E402
from media_gateway.telemetry import GatewayTelemetry  # noqa: E402
from providers.sentences.redis_stream import RedisSentenceStream  # noqa: E402

COLUMNS = ["accept", "session", "started", "written", "read", "tts", "sent", "heard"]
TARGET_MS = 300.0


class PhoneSockets:
    """Wraps the emulator's media sockets: when each opened and got its first bot frame."""

    def __init__(self) -> None:
        self.opened: dict[str, float] = {}  # subscription id → time
        self.first_frame: dict[str, float] = {}
        self.connection: dict[str, str] = {}  # connection id → subscription id
        cls: Any = emulator_media.MediaSession
        connect: Callable[..., Any] = cls.connect
        handle: Callable[..., Any] = cls._handle
        taps = self

        async def tapped_connect(session: Any, timeout_s: float) -> str | None:
            error: str | None = await connect(session, timeout_s)
            if error is None:
                # `connect` returns after sending AudioMetadata; the socket opened just before.
                taps.opened[session._subscription_id] = time.time()
                call_id = session._headers.get("x-ms-call-connection-id", "")
                taps.connection[call_id] = session._subscription_id
            return error

        def tapped_handle(session: Any, text: str) -> None:
            sub = session._subscription_id
            if sub not in taps.first_frame and '"AudioData"' in text:
                taps.first_frame[sub] = time.time()
            handle(session, text)

        cls.connect = tapped_connect
        cls._handle = tapped_handle


async def one_call(
    stack: VoiceStack, phone: PhoneSockets, spans: InMemorySpanExporter, bot_name: str | None
) -> dict[str, float]:
    body: dict[str, Any] = {"phone_number": CUSTOMER, "lang": ONE_LANGUAGE}
    if bot_name is not None:
        body["bot_name"] = bot_name
    response = await stack.api.post("/call", json=body)
    response.raise_for_status()
    call_id: str = response.json()["call_id"]

    def greeting() -> ReadableSpan | None:
        for span in spans.get_finished_spans():
            attributes = span.attributes or {}
            if span.name == "gateway.greeting" and attributes.get("call.id") == call_id:
                return span
        return None

    await wait_until(lambda: greeting() is not None, 30, "the greeting span", every=0.005)
    span = greeting()
    assert span is not None and span.start_time is not None and span.end_time is not None
    state = (await stack.api.get(f"/call/{call_id}")).json()["call"]
    connection_id = state["connection_id"]
    sub = phone.connection[connection_id]
    await wait_until(
        lambda: sub in phone.first_frame, 10, "the first frame at the phone", every=0.005
    )
    entries = await RedisSentenceStream(stack.redis).read(call_id, count=10)
    written = int(entries[0][0].split("-")[0]) / 1000
    await stack.acs.client.hang_up(connection_id)
    events = {e.name: e.timestamp / 1e9 for e in span.events}
    t0 = phone.opened[sub]
    marks = {
        "accept": span.start_time / 1e9,
        "session": events["session.created"],
        "started": events["session.started"],
        "written": written,
        "read": events["sentence.read"],
        "tts": events["tts.first_audio"],
        "sent": span.end_time / 1e9,
        "heard": phone.first_frame[sub],
    }
    return {name: (at - t0) * 1000 for name, at in marks.items()}


def print_table(title: str, rows: list[dict[str, float]]) -> None:
    print(f"\n{title}  ({len(rows)} calls; ms since the phone's media socket opened)")
    print(f"  {'step':<10}{'p50':>8}{'p95':>8}{'min':>8}{'max':>8}")
    for name in COLUMNS:
        values = [r[name] for r in rows]
        print(
            f"  {name:<10}{pct(values, 0.5):8.0f}{pct(values, 0.95):8.0f}"
            f"{min(values):8.0f}{max(values):8.0f}"
        )


def metric_summary(reader: InMemoryMetricReader) -> str:
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == "call.greeting.latency":
                    point = metric.data.data_points[0]
                    assert isinstance(point, HistogramDataPoint)
                    mean = point.sum / point.count * 1000
                    return f"call.greeting.latency: {point.count} points, mean {mean:.0f} ms"
    return "call.greeting.latency: no points"


async def measure(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.ERROR)
    print("loading Silero, Whisper and Piper…", flush=True)
    engines = local_engines()
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    telemetry = GatewayTelemetry(MeterProvider(metric_readers=[reader]), tracer_provider)
    phone = PhoneSockets()
    work = Path(tempfile.mkdtemp(prefix="bench-greeting-"))
    results: dict[str, list[dict[str, float]]] = {}
    async with AsyncExitStack() as stack:
        print("starting the stack and synthesising the static phrases…", flush=True)
        voice = await open_stack(work, engines, stack, telemetry=telemetry, warm=True)
        await one_call(voice, phone, spans, None)  # warm-up: first workflow, first sockets
        for setup in args.setups:
            rows = []
            for k in range(args.calls):
                name = None if setup == "cached" else f"Agent {uuid.uuid4().hex[:4]}"
                rows.append(await one_call(voice, phone, spans, name))
                await asyncio.sleep(args.gap)
                if args.per_call:
                    cells = " ".join(f"{c}={rows[-1][c]:.0f}" for c in COLUMNS)
                    print(f"  {setup} {k + 1}: {cells}")
            results[setup] = rows
            print_table(setup, rows)
    print("\nsummary")
    for setup, rows in results.items():
        totals = [r["heard"] for r in rows]
        ok = "met" if pct(totals, 0.95) <= TARGET_MS else "missed"
        print(
            f"  {setup:<9} greeting heard p50 {pct(totals, 0.5):4.0f} ms, p95 "
            f"{pct(totals, 0.95):4.0f} ms  (target <= {TARGET_MS:.0f} ms: {ok})"
        )
    print(f"  {metric_summary(reader)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument(
        "--setups", nargs="+", choices=["cached", "uncached"], default=["cached", "uncached"]
    )
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between calls")
    parser.add_argument("--per-call", action="store_true")
    run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
