"""OpenTelemetry metrics and traces of the media gateway: latencies, pacing, barge-in.

Instruments come from the global providers unless given, so the process start-up (see
`configure_telemetry`) or a test picks the exporters. Metrics carry no `call.id` / `turn.id`:
one series per call would grow without bound in any backend, and a histogram over all calls
is what alerts need. The ids are on the spans (one `gateway.turn` per answered turn, one
`gateway.barge_in` per StopAudio), and SDK exemplars tie a metric point to its span.

Times are the session's monotonic clock; spans get them converted to wall time, because most
of them are only known to matter after the fact (a turn exists once the silence timed out).
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from opentelemetry import metrics, trace
from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Link, Span, SpanContext, TracerProvider

log = logging.getLogger(__name__)

SCOPE = "callcenter.media_gateway"
LATE_S = 0.02  # a frame sent this much after its slot is an audible glitch risk

# Seconds, from a fast frame to a slow LLM answer (the SDK default buckets assume ms).
LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10]


class GatewayTelemetry:
    """The process-wide instruments; `for_call` gives the per-call recorder a session uses."""

    def __init__(
        self,
        meter_provider: MeterProvider | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        meter = metrics.get_meter(SCOPE, meter_provider=meter_provider)
        self.tracer = trace.get_tracer(SCOPE, tracer_provider=tracer_provider)

        def seconds(name: str, description: str) -> metrics.Histogram:
            return meter.create_histogram(
                name,
                unit="s",
                description=description,
                explicit_bucket_boundaries_advisory=LATENCY_BUCKETS,
            )

        self.answer = seconds("call.answer.latency", "End of caller speech to first bot frame")
        self.stt = seconds("call.stt.latency", "Transcription time of one utterance")
        self.llm_first_sentence = seconds(
            "call.llm.first_sentence.latency", "Turn sent to its first sentence read"
        )
        self.tts_first_audio = seconds(
            "call.tts.first_audio.latency", "Sentence received to its first TTS audio"
        )
        self.barge_in = seconds("call.barge_in.latency", "Caller speech onset to StopAudio sent")
        self.greeting = seconds(
            "call.greeting.latency", "Media stream accepted to the first bot frame sent"
        )
        self.frames_late = meter.create_counter(
            "call.frames.late", unit="{frame}", description="Frames sent >20 ms after their slot"
        )
        self.frames_dropped = meter.create_counter(
            "call.frames.dropped", unit="{frame}", description="Queued frames discarded"
        )

    def for_call(self, call_id: str, clock: Callable[[], float] = time.monotonic) -> CallTelemetry:
        return CallTelemetry(self, call_id, clock)


_default: GatewayTelemetry | None = None


def default_telemetry() -> GatewayTelemetry:
    """Instruments on the global providers, created once (sessions come and go, they stay)."""
    global _default
    if _default is None:
        _default = GatewayTelemetry()
    return _default


@dataclass
class _Turn:
    turn_id: int
    span: Span
    ended_at: float  # end of the caller's speech
    sent_at: float  # turn sent to the workflow
    first_sentence_at: float | None = None


class CallTelemetry:
    """What one call records; every method is cheap (some run once per 20 ms frame)."""

    def __init__(self, telemetry: GatewayTelemetry, call_id: str, clock: Callable[[], float]):
        self.t = telemetry
        self.call_id = call_id
        self._clock = clock
        self._turns: dict[int, _Turn] = {}  # sent, not answered yet
        self._answered: SpanContext | None = None  # the last answered turn, linked by barge-ins
        self._media_at: float | None = None  # a new call's stream accepted, no audio sent yet
        self._media_marks: list[tuple[str, float]] = []

    def _ns(self, at: float) -> int:
        """Session-clock time → epoch nanoseconds, for span start and end times."""
        return time.time_ns() - int((self._clock() - at) * 1e9)

    def _child(self, name: str, turn: _Turn, start: float, end: float) -> None:
        span = self.t.tracer.start_span(
            name,
            context=trace.set_span_in_context(turn.span),
            start_time=self._ns(start),
            attributes={"call.id": self.call_id, "turn.id": turn.turn_id},
        )
        span.end(end_time=self._ns(end))

    # --- media start -------------------------------------------------------------------

    def media_started(self, accepted_at: float) -> None:
        """A new call's media stream was accepted: its first bot frame is the greeting's."""
        self._media_at = accepted_at

    def media_mark(self, name: str, at: float | None = None) -> None:
        """A step between the stream's start and the greeting (an event on its span)."""
        if self._media_at is not None:
            self._media_marks.append((name, self._clock() if at is None else at))

    def _greeting_sent(self, turn_id: int) -> None:
        accepted_at, self._media_at = self._media_at, None
        assert accepted_at is not None
        now = self._clock()
        self.t.greeting.record(now - accepted_at)
        span = self.t.tracer.start_span(
            "gateway.greeting",
            start_time=self._ns(accepted_at),
            attributes={"call.id": self.call_id, "turn.id": turn_id},
        )
        for name, at in self._media_marks:
            span.add_event(name, timestamp=self._ns(at))
        self._media_marks = []
        span.end(end_time=self._ns(now))

    # --- listening ---------------------------------------------------------------------

    def stt_done(self, started: float, ended: float) -> None:
        self.t.stt.record(ended - started)

    def turn_sent(self, turn_id: int, ended_at: float, stt: tuple[float, float] | None) -> None:
        """The turn goes to the workflow: its span starts back at the end of the speech."""
        now = self._clock()
        span = self.t.tracer.start_span(
            "gateway.turn",
            start_time=self._ns(ended_at),
            attributes={"call.id": self.call_id, "turn.id": turn_id},
        )
        turn = self._turns[turn_id] = _Turn(turn_id, span, ended_at, now)
        if stt is not None:
            self._child("stt", turn, *stt)

    def sending(self, turn_id: int) -> AbstractContextManager[object]:
        """While the turn goes to the workflow, its span is the current one: the update (and
        all the workflow does for it) joins the turn's trace through Temporal's headers."""
        turn = self._turns.get(turn_id)
        return nullcontext() if turn is None else trace.use_span(turn.span, end_on_exit=False)

    # --- speaking ----------------------------------------------------------------------

    def sentence_read(self, turn_id: int) -> float:
        """A sentence came from Redis; returns when, for `first_audio`."""
        now = self._clock()
        self.media_mark("sentence.read", now)
        turn = self._turns.get(turn_id)
        if turn is not None and turn.first_sentence_at is None:
            turn.first_sentence_at = now
            self.t.llm_first_sentence.record(now - turn.sent_at)
            self._child("llm.first_sentence", turn, turn.sent_at, now)
        return now

    def first_audio(self, turn_id: int, received_at: float) -> None:
        """TTS gave a sentence's first chunk; the turn's first sentence also gets a span."""
        now = self._clock()
        self.media_mark("tts.first_audio", now)
        self.t.tts_first_audio.record(now - received_at)
        turn = self._turns.get(turn_id)
        if turn is not None and turn.first_sentence_at == received_at:
            self._child("tts.first_audio", turn, received_at, now)

    def frame_sent(self, turn_id: int) -> None:
        """The first frame of a turn ends its span (later calls find nothing to do)."""
        if self._media_at is not None:
            self._greeting_sent(turn_id)
        turn = self._turns.pop(turn_id, None)
        if turn is None:
            return
        now = self._clock()
        self.t.answer.record(now - turn.ended_at)
        turn.span.end(end_time=self._ns(now))
        self._answered = turn.span.get_span_context()
        for stale in [k for k in self._turns if k < turn_id]:  # renumbered or never answered
            self._abandon(stale)

    def frame_late(self, late_s: float) -> None:
        if late_s > LATE_S:
            self.t.frames_late.add(1)

    def frames_dropped(self, count: int) -> None:
        if count:
            self.t.frames_dropped.add(count)

    def barge_in(self, turn_id: int, onset_at: float, stop_sent_at: float) -> None:
        links = [Link(self._answered)] if self._answered is not None else None
        self.t.barge_in.record(stop_sent_at - onset_at)
        span = self.t.tracer.start_span(
            "gateway.barge_in",
            start_time=self._ns(onset_at),
            attributes={"call.id": self.call_id, "turn.id": turn_id},
            links=links,
        )
        span.end(end_time=self._ns(stop_sent_at))

    def close(self) -> None:
        for turn_id in list(self._turns):
            self._abandon(turn_id)

    def _abandon(self, turn_id: int) -> None:
        turn = self._turns.pop(turn_id)
        turn.span.set_attribute("turn.answered", False)
        turn.span.end()


def configure_telemetry(
    service_name: str = "callcenter-media-gateway",
    *,
    endpoint: str | None = None,
    export_interval_s: float = 60.0,
) -> Callable[[], None]:
    """Set the global providers: OTLP when an endpoint is set (and the exporter installed),
    else the console. Returns the shutdown that flushes them."""
    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        MetricExporter,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    endpoint = endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    metric_exporter: MetricExporter = ConsoleMetricExporter()
    span_exporter: SpanExporter = ConsoleSpanExporter()
    if endpoint:
        try:  # optional dependency: opentelemetry-exporter-otlp-proto-http
            otlp = "opentelemetry.exporter.otlp.proto.http"
            metric_module = importlib.import_module(f"{otlp}.metric_exporter")
            trace_module = importlib.import_module(f"{otlp}.trace_exporter")
            # The exporters read OTEL_EXPORTER_OTLP_ENDPOINT themselves (and append the paths).
            metric_exporter = metric_module.OTLPMetricExporter()
            span_exporter = trace_module.OTLPSpanExporter()
        except ImportError:
            log.warning("OTEL_EXPORTER_OTLP_ENDPOINT set but the OTLP exporter is not installed")
    resource = Resource.create({"service.name": service_name})
    reader = PeriodicExportingMetricReader(
        metric_exporter, export_interval_millis=export_interval_s * 1000
    )
    meter_provider = SdkMeterProvider(resource=resource, metric_readers=[reader])
    tracer_provider = SdkTracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    metrics.set_meter_provider(meter_provider)
    trace.set_tracer_provider(tracer_provider)

    def shutdown() -> None:
        tracer_provider.shutdown()
        meter_provider.shutdown()

    return shutdown
