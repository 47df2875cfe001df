"""Where the time of each spoken turn goes, read from the spans every process exports.

`SpanCollector` is a small OTLP/HTTP receiver: a process started with
`OTEL_EXPORTER_OTLP_ENDPOINT` pointing at it sends its spans there (`core/tracing.py`,
`media_gateway/telemetry.py`). One caller turn is one trace rooted at the gateway's
`gateway.turn` (end of the caller's speech → first bot frame); `turn_timings` reads from it the
moment each stage was reached, in ms since the end of the caller's speech, and `timing_table`
prints them. The demo uses this to print its breakdown per turn.
"""

from __future__ import annotations

import socket
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

FIRST_TOKEN_EVENT = "llm.first_token"  # on `llm.completion` (`providers/llm/openai_chat.py`)


@dataclass(frozen=True)
class ExportedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    start_ns: int
    end_ns: int
    attributes: dict[str, object]
    events: dict[str, int] = field(default_factory=dict)  # first time of each event name


def _value(value: AnyValue) -> object:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


class SpanCollector:
    """An OTLP/HTTP receiver that keeps every span exported to it (metrics are accepted and
    dropped). `endpoint` is what `OTEL_EXPORTER_OTLP_ENDPOINT` must be set to."""

    def __init__(self, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.spans: list[ExportedSpan] = []
        self.host = host
        self.port = port or _free_port(host)
        self._runner: web.AppRunner | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v1/traces", self._traces)
        app.router.add_post("/v1/metrics", self._ignored)
        app.router.add_post("/v1/logs", self._ignored)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _ignored(self, _request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def _traces(self, request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest()
        try:
            message.ParseFromString(await request.read())
        except Exception:  # a malformed export is the sender's problem, not a reason to stop
            return web.Response(status=400, text="not an OTLP ExportTraceServiceRequest")
        for resource_spans in message.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "",
            )
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    events: dict[str, int] = {}
                    for event in span.events:
                        events.setdefault(event.name, event.time_unix_nano)
                    self.spans.append(
                        ExportedSpan(
                            service=service,
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            events=events,
                        )
                    )
        return web.Response(status=200)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class TurnTimings:
    """One answered caller turn: when each stage was reached, in ms after the end of the
    caller's speech (None where its span was not exported); `stt` is a duration: how long
    the turn waited for its transcript once the silence had ended it."""

    turn_id: int
    stt: float | None  # the transcription's wait past the silence (it starts inside it)
    sent: float | None  # the silence timed out, the turn goes to the workflow
    llm_request: float | None  # the workflow ran `llm_turn`, whose request left
    first_token: float | None
    first_sentence: float | None  # the first sentence (clause) is in the Redis stream
    first_audio: float | None  # TTS gave that sentence's first audio
    first_frame: float | None  # the first frame went to the phone: voice to voice


COLUMNS: tuple[tuple[str, str], ...] = (
    ("stt", "STT wait"),
    ("sent", "end of turn"),
    ("llm_request", "LLM request"),
    ("first_token", "first token"),
    ("first_sentence", "first clause"),
    ("first_audio", "first audio"),
    ("first_frame", "first frame"),
)


def turn_timings(spans: Sequence[ExportedSpan], call_id: str) -> list[TurnTimings]:
    """The call's answered turns, in order, from their traces."""
    roots = sorted(
        (
            s
            for s in spans
            if s.name == "gateway.turn"
            and s.attributes.get("call.id") == call_id
            and s.attributes.get("turn.answered") is not False
        ),
        key=lambda s: s.start_ns,
    )
    by_trace: dict[str, list[ExportedSpan]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    turns = []
    for root in roots:
        trace = by_trace.get(root.trace_id, [])

        def first(name: str, trace: list[ExportedSpan] = trace) -> ExportedSpan | None:
            named = [s for s in trace if s.name == name]
            return min(named, key=lambda s: s.start_ns) if named else None

        def ms(ns: int | None, root: ExportedSpan = root) -> float | None:
            return None if ns is None else (ns - root.start_ns) / 1e6

        stt, read = first("stt"), first("llm.first_sentence")
        completion, stored = first("llm.completion"), first("sentences.append")
        audio = first("tts.first_audio")
        turns.append(
            TurnTimings(
                turn_id=int(str(root.attributes.get("turn.id", 0))),
                stt=None if stt is None else (stt.end_ns - stt.start_ns) / 1e6,
                sent=ms(read.start_ns) if read else None,
                llm_request=ms(completion.start_ns) if completion else None,
                first_token=ms(completion.events.get(FIRST_TOKEN_EVENT)) if completion else None,
                first_sentence=ms(stored.end_ns) if stored else None,
                first_audio=ms(audio.end_ns) if audio else None,
                first_frame=ms(root.end_ns),
            )
        )
    return turns


def timing_table(turns: Sequence[TurnTimings]) -> list[str]:
    """A row per turn and a p50 row: ms after the end of the caller's speech."""
    names = [name for name, _ in COLUMNS]
    width = max(len(title) for _, title in COLUMNS) + 1
    lines = ["turn " + "".join(f"{title:>{width}}" for _, title in COLUMNS)]

    def cell(value: float | None) -> str:
        return f"{'—' if value is None else f'{value:.0f}':>{width}}"

    for turn in turns:
        lines.append(f"{turn.turn_id:>4} " + "".join(cell(getattr(turn, n)) for n in names))
    medians = []
    for name in names:
        values = [v for t in turns if (v := getattr(t, name)) is not None]
        medians.append(statistics.median(values) if values else None)
    lines.append(" p50 " + "".join(cell(v) for v in medians))
    return lines


assert [f.name for f in fields(TurnTimings)][1:] == [n for n, _ in COLUMNS]
