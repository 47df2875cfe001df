"""Connecting to Temporal the same way from every process."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from core.settings import TemporalSettings


async def connect(settings: TemporalSettings) -> Client:
    """A client with the pydantic converter (models cross every boundary as models)."""
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        data_converter=pydantic_data_converter,
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        tls=settings.tls,
    )
