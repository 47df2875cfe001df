"""What routes need, taken from the app's state (opened once at start-up)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from temporalio.client import Client

from api.errors import ApiError
from core.settings import Settings
from providers.store.base import CallStore


@dataclass
class Services:
    settings: Settings
    temporal: Client
    store: CallStore
    redis: Redis


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def require_api_key(request: Request, services: ServicesDep) -> None:
    """With keys configured every route but health needs one in the key header."""
    keys = services.settings.api.keys
    if not keys:
        return
    given = request.headers.get(services.settings.api.key_header, "")
    if not any(hmac.compare_digest(given, key.get_secret_value()) for key in keys):
        raise ApiError(401, f"missing or invalid {services.settings.api.key_header} header")
