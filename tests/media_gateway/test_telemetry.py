"""Gateway telemetry: one answered turn and one barge-in, read back from in-memory exporters."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis.asyncio import Redis

from domain.contracts import SentenceEvent, UserTurn
from media_gateway.engines import Engines
from media_gateway.session import CallSession
from media_gateway.telemetry import GatewayTelemetry
from providers.sentences.redis_stream import RedisSentenceStream
from tests.media_gateway.fakes import (
    EnergyVad,
    Phone,
    RecordingControl,
    ScriptedStt,
    ToneTts,
    timeline,
)

WORDS = " ".join(f"w{i}" for i in range(20))  # 4 s of bot audio
CUTOFF_S = 0.25  # the default `vad_cutoff_timeout_ms`


@dataclass
class AnsweringControl(RecordingControl):
    """The workflow: answers every turn with sentences in the call's Redis stream."""

    redis: Redis | None = None
    call_id: str = ""
    answers: list[str] = field(default_factory=list)

    async def user_turn(self, turn: UserTurn, accepted: Callable[[], None] | None = None) -> None:
        await super().user_turn(turn, accepted)
        assert self.redis is not None and turn.turn_id is not None
        await asyncio.sleep(0.05)  # the LLM's first sentence
        text = self.answers.pop(0) if self.answers else "OK."
        event = SentenceEvent(turn_id=turn.turn_id, kind="sentence", text=text)
        await RedisSentenceStream(self.redis).append(self.call_id, event)


def metric_points(reader: InMemoryMetricReader) -> dict[str, list[object]]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: list(metric.data.data_points)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }


def histogram(points: dict[str, list[object]], name: str) -> HistogramDataPoint:
    (point,) = points[name]  # no per-call attributes: one series
    assert isinstance(point, HistogramDataPoint) and point.count >= 1
    return point


async def test_a_turn_and_a_barge_in_are_measured_and_traced(redis: Redis) -> None:
    reader = InMemoryMetricReader()
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = GatewayTelemetry(MeterProvider(metric_readers=[reader]), tracer_provider)

    call_id = f"call-{uuid.uuid4()}"
    control = AnsweringControl(redis=redis, call_id=call_id, answers=["Hello there.", WORDS])
    phone = Phone(16_000)
    stt = ScriptedStt(["I had an accident.", "Wait, stop."])
    engines = Engines(vad=EnergyVad, stt=stt, tts=ToneTts())
    session = CallSession(
        call_id,
        control=control,
        engines=engines,
        redis=redis,
        send=phone.receive,
        sample_rate=16_000,
        telemetry=telemetry,
    )
    await session.start()

    async def stall_the_loop() -> None:
        """Block the event loop while the bot speaks: the next frames go out late."""
        while len(phone.audio_frames()) < 10:
            await asyncio.sleep(0.01)
        time.sleep(0.1)  # noqa: ASYNC251 - the point: a blocked loop

    stall = asyncio.create_task(stall_the_loop())
    try:
        audio = timeline(
            16_000,
            ("silence", 0.3),
            ("speech", 0.8),  # turn 1, answered "Hello there." (0.4 s)
            ("silence", 1.5),
            ("speech", 0.6),  # turn 2, answered with 4 s of audio
            ("silence", 1.2),
            ("speech", 1.0),  # barge-in over turn 2's answer
        )
        await phone.run(session.feed, audio, tail_s=1.0)
        await stall
    finally:
        await session.close()

    assert len(control.turns) >= 2 and phone.stops()
    points = metric_points(reader)
    answer = histogram(points, "call.answer.latency")
    # Silence timeout (0.5 s) + STT + the fake LLM's 50 ms: well under a second, never 0.
    assert answer.count >= 2 and 0.5 < answer.min and answer.max < 5
    assert 0 <= histogram(points, "call.stt.latency").max < 1
    llm = histogram(points, "call.llm.first_sentence.latency")
    assert 0.04 < llm.min and llm.max < 2
    assert 0 <= histogram(points, "call.tts.first_audio.latency").max < 1
    barge_in = histogram(points, "call.barge_in.latency")
    assert CUTOFF_S - 0.05 < barge_in.min and barge_in.max <= CUTOFF_S + 0.1
    late = points["call.frames.late"]
    assert late and sum(p.value for p in late) >= 1  # type: ignore[attr-defined]
    dropped = points["call.frames.dropped"]
    assert dropped and sum(p.value for p in dropped) > 0  # type: ignore[attr-defined]

    spans = exporter.get_finished_spans()
    turns = [s for s in spans if s.name == "gateway.turn"]
    assert len(turns) >= 2
    for turn in turns[:2]:
        assert turn.attributes is not None and turn.attributes["call.id"] == call_id
        assert turn.parent is None
        children = {s.name: s for s in spans if s.parent and s.parent.span_id == span_id(turn)}
        assert set(children) == {"stt", "llm.first_sentence", "tts.first_audio"}
        for child in children.values():
            assert child.context is not None and turn.context is not None
            assert child.context.trace_id == turn.context.trace_id
            assert child.attributes is not None
            assert child.attributes["turn.id"] == turn.attributes["turn.id"]
            assert bounds(turn)[0] <= bounds(child)[0] <= bounds(child)[1] <= bounds(turn)[1]
    (barge,) = [s for s in spans if s.name == "gateway.barge_in"]
    assert barge.attributes is not None and barge.attributes["call.id"] == call_id
    assert barge.attributes["turn.id"] == turns[1].attributes["turn.id"]  # type: ignore[index]
    assert barge.links and barge.links[0].context.span_id == span_id(turns[1])
    start, end = bounds(barge)
    assert abs((end - start) / 1e9 - barge_in.max) < 0.005


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def bounds(span: ReadableSpan) -> tuple[int, int]:
    assert span.start_time is not None and span.end_time is not None
    # Start times are converted from the monotonic clock: allow a millisecond of rounding.
    return span.start_time - 1_000_000, span.end_time + 1_000_000


async def test_the_greeting_is_timed_from_the_media_socket_once_per_call(redis: Redis) -> None:
    reader = InMemoryMetricReader()
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = GatewayTelemetry(MeterProvider(metric_readers=[reader]), tracer_provider)
    call_id = f"call-{uuid.uuid4()}"
    # The workflow writes the greeting as ACS opens the media socket.
    greeting = SentenceEvent(turn_id=0, kind="notice", text="Hello, how can I help you?")
    await RedisSentenceStream(redis).append(call_id, greeting)

    async def connect(accepted_at: float) -> Phone:
        phone = Phone(16_000)
        session = CallSession(
            call_id,
            control=RecordingControl(),
            engines=Engines(vad=EnergyVad, stt=ScriptedStt([]), tts=ToneTts()),
            redis=redis,
            send=phone.receive,
            sample_rate=16_000,
            telemetry=telemetry,
            media_started_at=accepted_at,
        )
        await session.start()
        try:
            await phone.run(session.feed, b"", tail_s=0.3)
        finally:
            await session.close()
        return phone

    accepted_at = time.monotonic() - 0.02  # the socket was accepted, then the token checked
    phone = await connect(accepted_at)
    first_frame_at = phone.audio_frames()[0][0]
    # A replacement gateway for the same call: no greeting to time (it resumes, never repeats).
    await connect(time.monotonic())

    greeting_latency = histogram(metric_points(reader), "call.greeting.latency")
    assert greeting_latency.count == 1
    assert 0.02 <= greeting_latency.max <= first_frame_at - accepted_at + 0.005
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "gateway.greeting"]
    assert span.attributes is not None and span.attributes["call.id"] == call_id
    names = [event.name for event in span.events]
    assert names == ["session.created", "session.started", "sentence.read", "tts.first_audio"]
    times = [event.timestamp for event in span.events]
    start, end = bounds(span)
    assert start <= times[0] and times == sorted(times) and times[-1] <= end
