"""One trace per caller turn, across processes: OpenTelemetry spans exported by OTLP.

A spoken turn's trace starts at the gateway (`gateway.turn`, from the end of the caller's speech
to the first frame of the answer), crosses into Temporal with the update (Temporal's
`TracingInterceptor` carries the context in headers: `StartWorkflowUpdate`, `HandleUpdate`,
`StartActivity`, `RunActivity`), and goes on inside `llm_turn` (`llm.completion`, whose HTTP
request carries `traceparent`; `sentences.append` per sentence into the Redis stream). The
gateway's own spans (reading the first sentence, the first audio) hang under `gateway.turn`.

Tracing is on only where `OTEL_EXPORTER_OTLP_ENDPOINT` is set: without it, no interceptor runs
and the tracer is OpenTelemetry's no-op one, so a turn pays nothing for it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind
from temporalio.contrib.opentelemetry import TracingInterceptor, TracingWorkflowInboundInterceptor
from temporalio.worker import HandleUpdateInput, WorkflowInterceptorClassInput

log = logging.getLogger(__name__)

TRACER = trace.get_tracer("callcenter")
ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"


def enabled() -> bool:
    return bool(os.environ.get(ENDPOINT_VARIABLE))


def configure(service_name: str) -> Callable[[], None] | None:
    """Install the OTLP span exporter as the global tracer provider (a process's start-up
    calls this once); returns the shutdown that flushes it, or None when tracing is off."""
    if not enabled():
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)}
        )
    )
    # The exporter reads the endpoint (and headers) from the environment itself.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    log.info("tracing: spans of %s exported by OTLP", service_name)
    return provider.shutdown


def temporal_interceptors() -> list[Any]:
    """The client (and so worker) interceptors: Temporal's tracing one when tracing is on."""
    return [TurnTracingInterceptor()] if enabled() else []


class _TurnTracingInbound(TracingWorkflowInboundInterceptor):
    """An update joins its sender's trace. Temporal's interceptor puts everything a workflow
    does under the workflow's own trace and only links the sender; a caller's turn is an update,
    and its trace must run from the gateway through the activity back to the gateway."""

    async def handle_update_handler(self, input: HandleUpdateInput) -> Any:
        header = input.headers.get(self.header_key)
        if header is None:
            return await super().handle_update_handler(input)
        carrier = self.payload_converter.from_payloads([header])[0]
        token = otel_context.attach(self._set_on_context(self.text_map_propagator.extract(carrier)))
        try:
            self._completed_span(f"HandleUpdate:{input.update}", kind=SpanKind.SERVER)
            return await self.next.handle_update_handler(input)
        finally:
            otel_context.detach(token)


class TurnTracingInterceptor(TracingInterceptor):
    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[TracingWorkflowInboundInterceptor]:
        super().workflow_interceptor_class(input)  # registers the span extern function
        return _TurnTracingInbound


def headers_for(span: Span) -> dict[str, str]:
    """W3C `traceparent` headers that make an outgoing request a child of `span`."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=trace.set_span_in_context(span))
    return carrier
