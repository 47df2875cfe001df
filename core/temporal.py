"""Connecting to Temporal the same way from every process."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from core.settings import TemporalSettings
from domain.attributes import REGISTRATIONS


async def connect(settings: TemporalSettings) -> Client:
    """A client with the pydantic converter (models cross every boundary as models)."""
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        data_converter=pydantic_data_converter,
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        tls=settings.tls,
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
