"""One spoken turn is one trace across processes.

The fault harness's phone stack (the ACS emulator, two gateway processes with tone engines, two
workers, the API, Temporal, Redis and the scripted LLM, each its own OS process) runs with
`OTEL_EXPORTER_OTLP_ENDPOINT` pointing at an OTLP/HTTP collector in this test. The caller says
one turn; the spans every process exported for it must form one tree rooted at the gateway's
`gateway.turn`: the update, the workflow's handling of it, the `llm_turn` activity, its LLM
request and its Redis appends, and the gateway's first sentence, all under one trace id.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from acs_emulator.client import EmulatorClient
from bench._faults_phone import ONE_LANGUAGE, Line, _answered, _connected
from bench._faults_stack import FaultStack, open_fault_stack
from cli.turn_timings import ExportedSpan, SpanCollector, turn_timings

pytestmark = pytest.mark.timeout(150)


@pytest.fixture
async def traced_stack(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[FaultStack, SpanCollector]]:
    collector = SpanCollector()
    await collector.start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")  # ms: spans leave each process quickly
    try:
        async with open_fault_stack(voice=True) as stack:
            yield stack, collector
    finally:
        await collector.stop()


async def test_one_spoken_turn_is_one_trace_across_processes(
    traced_stack: tuple[FaultStack, SpanCollector],
) -> None:
    stack, collector = traced_stack
    assert stack.emulator_port
    async with EmulatorClient(f"http://127.0.0.1:{stack.emulator_port}") as acs:
        number = f"+3361{uuid.uuid4().int % 10**7:07d}"
        await acs.add_phone(number, answer="auto", answer_delay_ms=50)
        response = await stack.http.post(
            "/call", json={"phone_number": number, "lang": ONE_LANGUAGE}
        )
        response.raise_for_status()
        call_id = str(response.json()["call_id"])
        line = Line(acs, await _connected(stack, call_id))
        line.start()
        try:
            await line.until_quiet()  # the greeting
            await line.say(1)
            await _answered(stack, call_id, 1)
            await line.until_quiet(20, line.marks[1])
        finally:
            await line.stop()

    def turn_trace() -> list[ExportedSpan] | None:
        roots = [
            s
            for s in collector.spans
            if s.name == "gateway.turn" and s.attributes.get("call.id") == call_id
        ]
        for root in roots:
            spans = [s for s in collector.spans if s.trace_id == root.trace_id]
            if any(s.name == "llm.completion" for s in spans):
                return spans
        return None

    deadline = time.monotonic() + 15
    while (spans := turn_trace()) is None and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert spans is not None, sorted({(s.service, s.name) for s in collector.spans})
    names = {s.name for s in spans}
    services = {s.service for s in spans}
    seen = sorted((s.service, s.name) for s in spans)
    # Every stage of the turn, in the processes that ran it.
    assert {"gateway.turn", "stt", "llm.first_sentence", "llm.completion"} <= names, seen
    assert "sentences.append" in names, seen
    assert any(n.startswith("StartWorkflowUpdate:") for n in names), seen
    assert any(n.startswith("HandleUpdate:") for n in names), seen
    assert any(n.startswith("StartActivity:") and "llm_turn" in n for n in names), seen
    assert any(n.startswith("RunActivity:") and "llm_turn" in n for n in names), seen
    assert {"callcenter-media-gateway", "callcenter-worker"} <= services, seen
    # One tree: a single root (the gateway's turn), every other span's parent in the trace.
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if s.parent_id not in ids]
    assert [r.name for r in roots] == ["gateway.turn"], seen
    by_id = {s.span_id: s for s in spans}
    completion = next(s for s in spans if s.name == "llm.completion")
    chain = []
    node: ExportedSpan | None = completion
    while node is not None:
        chain.append(node.name)
        node = by_id.get(node.parent_id)
    assert chain[-1] == "gateway.turn" and any(n.startswith("RunActivity:") for n in chain), chain

    # The demo's breakdown of the turn: every stage found, each no earlier than the one before
    # (the gateway's and the worker's clocks are the same machine's; 5 ms of rounding allowed).
    [timings] = turn_timings(spans, call_id)
    stages = [
        timings.sent,
        timings.llm_request,
        timings.first_token,
        timings.first_sentence,
        timings.first_audio,
        timings.first_frame,
    ]
    assert timings.stt is not None, timings
    reached = [stage for stage in stages if stage is not None]
    assert len(reached) == len(stages), timings
    assert all(b >= a - 5 for a, b in zip(reached, reached[1:], strict=False)), timings
    assert reached[0] >= 0, timings
