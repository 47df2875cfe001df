"""The demo's per-turn breakdown: spans exported by the real OTLP exporter, read back in stages.

A turn's spans are made here with the same names and parents the processes use, at known
times, exported over HTTP by OpenTelemetry's own OTLP exporter to the `SpanCollector`.
"""

from __future__ import annotations

import asyncio
import time

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from cli.turn_timings import FIRST_TOKEN_EVENT, SpanCollector, timing_table, turn_timings

MS = 1_000_000


def _export_one_turn(endpoint: str, call_id: str, t0: int) -> None:
    """gateway.turn at t0 (end of speech) → first frame at t0 + 900 ms, with its stages."""
    provider = TracerProvider(resource=Resource.create({"service.name": "test"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"))
    )
    tracer = provider.get_tracer("test")
    ids: dict[str, str | int] = {"call.id": call_id, "turn.id": 3}
    root = tracer.start_span("gateway.turn", start_time=t0, attributes=ids)
    inside = trace.set_span_in_context(root)

    def child(name: str, start_ms: int, end_ms: int, event_ms: int | None = None) -> None:
        span = tracer.start_span(name, context=inside, start_time=t0 + start_ms * MS)
        if event_ms is not None:
            span.add_event(FIRST_TOKEN_EVENT, timestamp=t0 + event_ms * MS)
        span.end(end_time=t0 + end_ms * MS)

    child("stt", -300, -50)
    child("llm.first_sentence", 200, 620)
    child("llm.completion", 230, 700, event_ms=480)
    child("sentences.append", 590, 600)
    child("tts.first_audio", 620, 850)
    root.end(end_time=t0 + 900 * MS)
    provider.shutdown()


async def test_a_turns_stages_are_read_from_its_exported_spans() -> None:
    collector = SpanCollector()
    await collector.start()
    try:
        t0 = time.time_ns()
        await asyncio.to_thread(_export_one_turn, collector.endpoint, "call-1", t0)
        await asyncio.to_thread(_export_one_turn, collector.endpoint, "another-call", t0)
    finally:
        await collector.stop()

    [turn] = turn_timings(collector.spans, "call-1")
    assert turn.turn_id == 3
    assert turn.stt == 250
    assert (turn.sent, turn.llm_request, turn.first_token) == (200, 230, 480)
    assert (turn.first_sentence, turn.first_audio, turn.first_frame) == (600, 850, 900)
    table = timing_table([turn])
    assert table[0].split()[:4] == ["turn", "STT", "wait", "end"]
    assert table[1].split() == ["3", "250", "200", "230", "480", "600", "850", "900"]
    assert table[2].split() == ["p50", "250", "200", "230", "480", "600", "850", "900"]


async def test_a_malformed_export_is_refused_and_the_collector_goes_on() -> None:
    import aiohttp

    collector = SpanCollector()
    await collector.start()
    try:
        async with aiohttp.ClientSession() as http:
            bad = await http.post(f"{collector.endpoint}/v1/traces", data=b"\xff\x00 not protobuf")
            assert bad.status == 400
        await asyncio.to_thread(_export_one_turn, collector.endpoint, "call-2", time.time_ns())
    finally:
        await collector.stop()
    assert len(turn_timings(collector.spans, "call-2")) == 1
