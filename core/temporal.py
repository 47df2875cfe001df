"""Connecting to Temporal the same way from every process."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client

from core import tracing
from core.codec import data_converter
from core.settings import TemporalSettings
from domain.attributes import REGISTRATIONS

# Every workflow start passes this. A worker SIGKILLed while it holds a workflow task leaves the
# call stalled until the task times out: 10 s by default. Our tasks take milliseconds (the
# `save_call`/`read_flags` local activities included; a longer local activity heartbeats the
# task at 80% of this), so one second hands a dead worker's task to a live one quickly without
# timing out a healthy one.
WORKFLOW_TASK_TIMEOUT = timedelta(seconds=1)


async def connect(settings: TemporalSettings) -> Client:
    """A client with the pydantic converter (models cross every boundary as models) and the
    payload codec (everything Temporal stores is encrypted); its workers inherit both."""
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        data_converter=data_converter(settings.codec),
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        tls=settings.tls,
        interceptors=tracing.temporal_interceptors(),
    )


async def register_search_attributes(client: Client, namespace: str = "default") -> None:
    """Register the call search attributes (the dev server gets them by flag at start)."""
    kinds = {
        "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    }
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={name: kinds[kind] for name, kind in REGISTRATIONS.items()},
        )
    )
