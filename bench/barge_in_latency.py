"""Barge-in latency: the caller starts speaking over the bot → the gateway sends `StopAudio`.

One `CallSession` (the production class) with the real engines: Silero VAD listens, Piper
speaks the bot's answers (read from the call's Redis stream, a private `redis-server`), Whisper
transcribes the interruptions. A phone loop feeds the caller's side in real time, one 20 ms
frame per tick, each frame handed over when its 20 ms have been captured (as ACS streams).
In each trial the bot starts a long answer; after a random 0.8-2.0 s the caller interrupts
with a sentence synthesised by Piper (another speaking rate than the bot's).

Per trial, on one monotonic clock:
  onset     the caller's speech onset: the first sample of the first 10 ms window within
            30 dB of the utterance's peak level, at its time in the real-time stream;
  detected  the VAD's onset (the start of the first voiced Silero frame), from the gateway's
            `gateway.barge_in` span (in-memory OpenTelemetry exporter);
  stop      the gateway sent `StopAudio`.
Reported (ms): `vad lag` = detected - onset, `stop` = stop - onset (the barge-in latency),
and `gateway` = stop - detected (what the `call.barge_in.latency` metric records). Target:
stop p95 <= vad_cutoff_timeout_ms + 50 ms.

The caller's line carries white noise at `--noise` dBFS (-60 by default: a quiet handset) under
and between the words, so that the VAD and the onset dating work on a real line's floor.

    python bench/barge_in_latency.py [--trials 20] [--cutoffs 250] [--noise -60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from redis.asyncio import Redis  # noqa: E402

from bench._report import local_engines, pct, run, wait_until  # noqa: E402
from core.redis_server import RedisProcess  # noqa: E402
from domain.contracts import BargeIn, SentenceEvent, UserTurn  # noqa: E402
from domain.flags import FeatureFlags  # noqa: E402
from media_gateway.control import CallView  # noqa: E402
from media_gateway.engines import Engines, resample  # noqa: E402
from media_gateway.session import CallSession  # noqa: E402
from media_gateway.telemetry import GatewayTelemetry  # noqa: E402
from providers.sentences.redis_stream import RedisSentenceStream  # noqa: E402

RATE = 16_000
FRAME_BYTES = RATE * 2 // 50
ANSWER = (
    "Thank you for waiting. I have found your policy and I can see the claim you opened "
    "last week. The garage sent us the estimate, and the expert will call you on Monday."
)
INTERRUPTIONS = [  # onsets of all kinds: vowels, nasals, stops, fricatives, an /h/
    "Wait, that is not my policy.",
    "Sorry, can I ask something?",
    "No, the garage is wrong.",
    "Hold on, which claim is that?",
    "Actually, I sold that car.",
    "But I already paid the deductible.",
    "Excuse me, I cannot hear you.",
    "My address has changed since then.",
]


def onset_s(pcm: bytes, rate: int, window_s: float = 0.01) -> float:
    """Where the speech starts: the first 10 ms window within 30 dB of the peak window."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    win = int(rate * window_s)
    levels = np.sqrt(np.mean(x[: x.size // win * win].reshape(-1, win) ** 2, axis=1))
    return float(np.flatnonzero(levels > levels.max() * 10 ** (-30 / 20))[0] * window_s)


@dataclass
class Control:
    """The workflow's side, recorded: turns are answered by nothing, barge-ins kept."""

    last_turn_id: int = 0
    turns: list[UserTurn] = field(default_factory=list)
    barge_ins: list[BargeIn] = field(default_factory=list)

    async def view(self) -> CallView:
        return CallView(last_turn_id=self.last_turn_id, lang="en-US")

    async def user_turn(self, turn: UserTurn) -> None:
        self.turns.append(turn)
        self.last_turn_id = turn.turn_id or self.last_turn_id + 1

    async def barge_in(self, event: BargeIn) -> None:
        self.barge_ins.append(event)

    async def caller_silent(self) -> None:
        pass


class PhoneLine:
    """The caller's side in real time; records when the gateway's messages arrive."""

    def __init__(self, noise_dbfs: float | None = None) -> None:
        """`noise_dbfs`: the line's noise floor under and between the caller's words."""
        self.noise = (
            None
            if noise_dbfs is None
            else np.random.default_rng(3).normal(0, 32768 * 10 ** (noise_dbfs / 20), RATE * 10)
        )
        self.caller: deque[bytes] = deque()
        self.stops: list[float] = []
        self.bot_frames: list[float] = []
        self.fed_frames = 0
        self.start = 0.0

    async def receive(self, text: str) -> None:
        now = time.monotonic()
        kind = json.loads(text)["kind"]
        (self.stops if kind == "StopAudio" else self.bot_frames).append(now)

    def play(self, pcm: bytes) -> float:
        """Queue caller audio; returns the monotonic time its first sample is captured."""
        pcm += bytes(-len(pcm) % FRAME_BYTES)
        begins = self.start + self.fed_frames * 0.02 + len(self.caller) * 0.02
        self.caller.extend(pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES))
        return begins

    async def run(self, feed: Callable[[bytes], object]) -> None:
        self.start = time.monotonic()
        while True:
            # Frame k holds audio [k, k+1) * 20 ms: it can be sent once that has elapsed.
            delay = self.start + (self.fed_frames + 1) * 0.02 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            frame = self.caller.popleft() if self.caller else bytes(FRAME_BYTES)
            if self.noise is not None:
                at = self.fed_frames * FRAME_BYTES // 2 % (self.noise.size - FRAME_BYTES // 2)
                mixed = np.frombuffer(frame, dtype="<i2") + self.noise[at : at + FRAME_BYTES // 2]
                frame = np.clip(mixed, -32768, 32767).astype("<i2").tobytes()
            self.fed_frames += 1
            result = feed(frame)
            if asyncio.iscoroutine(result):
                await result


async def trial_run(
    redis: Redis,
    engines: Engines,
    callers: list[bytes],
    cutoff_ms: int,
    trials: int,
    rng: random.Random,
    per_trial: bool = False,
    noise_dbfs: float | None = None,
) -> list[dict[str, float]]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry = GatewayTelemetry(MeterProvider(), tracer_provider)
    flags = FeatureFlags(vad_cutoff_timeout_ms=cutoff_ms)

    async def read_flags() -> FeatureFlags:
        return flags

    control = Control()
    phone = PhoneLine(noise_dbfs)
    call_id = f"bench-{uuid.uuid4().hex[:8]}"
    session = CallSession(
        call_id,
        control=control,
        engines=engines,
        redis=redis,
        send=phone.receive,
        sample_rate=RATE,
        flags=read_flags,
        telemetry=telemetry,
    )
    await session.start()
    line = asyncio.create_task(phone.run(session.feed))
    stream = RedisSentenceStream(redis)
    rows = []
    try:
        for k in range(trials):
            turn_id = k + 1
            control.last_turn_id = turn_id
            session.next_turn_id = turn_id + 1
            frames_before = len(phone.bot_frames)
            await stream.append(
                call_id, SentenceEvent(turn_id=turn_id, kind="sentence", text=ANSWER)
            )
            await wait_until(lambda n=frames_before: len(phone.bot_frames) > n, 30, "the answer")
            await asyncio.sleep(rng.uniform(0.8, 2.0))
            caller = callers[k % len(callers)]
            stops, turns = len(phone.stops), len(control.turns)
            onset = phone.play(caller) + onset_s(caller, RATE)
            await wait_until(lambda n=stops: len(phone.stops) > n, 10, "StopAudio")
            stop = phone.stops[-1]
            span = next(
                s
                for s in reversed(spans.get_finished_spans())
                if s.name == "gateway.barge_in" and (s.attributes or {}).get("turn.id") == turn_id
            )
            assert span.start_time is not None and span.end_time is not None
            detected = stop - (span.end_time - span.start_time) / 1e9
            rows.append(
                {
                    "vad lag": (detected - onset) * 1000,
                    "gateway": (stop - detected) * 1000,
                    "stop": (stop - onset) * 1000,
                }
            )
            if per_trial:
                cells = " ".join(f"{n}={v:.0f}" for n, v in rows[-1].items())
                print(f"  {cells}  ({INTERRUPTIONS[k % len(callers)]})")
            # The interruption becomes the next turn; then the line is quiet again.
            await wait_until(lambda n=turns: len(control.turns) > n, 30, "the caller's turn")
            await asyncio.sleep(0.3)
    finally:
        line.cancel()
        await asyncio.gather(line, return_exceptions=True)
        await session.close()
    heard = [t.text for t in control.turns]
    print(f"  transcribed: {heard[: len(callers)]}")
    print(f"  barge-in signals: {len(control.barge_ins)} of {trials} trials")
    print(f"  caller frames taken for the bot's echo: {session.listener.echo_frames}")
    return rows


async def measure(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.ERROR)
    print("loading Silero, Whisper and Piper…", flush=True)
    engines = local_engines(cached=True)
    tts = engines.tts
    callers = []
    for text in INTERRUPTIONS:
        voice = b"".join([c async for c in tts.synthesize(text, rate=1.15)])
        callers.append(resample(voice, tts.sample_rate, RATE))
    async for _ in tts.synthesize(ANSWER):  # the bot's answer is cached, as a phrase would be
        pass
    await engines.stt.transcribe(callers[0], language="en-US")  # the first decode is slow
    work = Path(tempfile.mkdtemp(prefix="bench-barge-in-"))
    server = RedisProcess(workdir=work).start()
    redis = Redis.from_url(server.url)
    rng = random.Random(7)
    results = {}
    try:
        for cutoff in args.cutoffs:
            print(f"\nvad_cutoff_timeout_ms={cutoff}, {args.trials} trials", flush=True)
            results[cutoff] = await trial_run(
                redis, engines, callers, cutoff, args.trials, rng, args.per_trial, args.noise
            )
    finally:
        await redis.aclose()
        server.stop()
    print("\nbarge-in latency (ms; speech onset in the caller's audio → StopAudio sent)")
    print(f"  {'cutoff':>6} {'target':>7}  {'vad lag p50/p95':>16}  {'gateway p50/p95':>16}  "
          f"{'stop p50/p95':>13}  {'max':>5}  result")  # fmt: skip
    for cutoff, rows in results.items():
        lag = [r["vad lag"] for r in rows]
        gateway = [r["gateway"] for r in rows]
        stop = [r["stop"] for r in rows]
        target = cutoff + 50
        ok = "met" if pct(stop, 0.95) <= target else "missed"
        print(
            f"  {cutoff:>6} {target:>7}  {pct(lag, 0.5):7.0f} /{pct(lag, 0.95):5.0f}   "
            f"{pct(gateway, 0.5):7.0f} /{pct(gateway, 0.95):5.0f}   "
            f"{pct(stop, 0.5):5.0f} /{pct(stop, 0.95):5.0f}  {max(stop):5.0f}  {ok}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--cutoffs", type=int, nargs="+", default=[250])
    parser.add_argument("--per-trial", action="store_true")
    parser.add_argument(
        "--noise",
        type=float,
        default=-60.0,
        help="the line's noise floor, dBFS (a quiet handset: -60; the onset is still taken from "
        "the clean caller audio)",
    )
    run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
