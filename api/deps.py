"""What routes need, taken from the app's state (opened once at start-up)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from redis.asyncio import Redis
from temporalio.client import Client

from api.acs_auth import JwksCache
from api.errors import ApiError
from api.guard import key_valid
from core.settings import Settings
from providers.flags.redis_flags import RedisFlags
from providers.store.base import CallStore
from providers.telephony.connections import ConnectionRegistry


@dataclass
class Services:
    settings: Settings
    temporal: Client
    store: CallStore
    redis: Redis
    jwks: JwksCache | None = None  # verifies ACS callback tokens when telephony is ACS
    flags: RedisFlags | None = None

    def __post_init__(self) -> None:
        acs = self.settings.telephony.acs
        if self.jwks is None and acs is not None:
            self.jwks = JwksCache(acs.jwks_url)
        if self.flags is None:
            self.flags = RedisFlags(
                self.redis,
                key=self.settings.flags.redis_key,
                ttl_sec=self.settings.flags.cache_ttl_sec,
            )
        self.connections = ConnectionRegistry(self.redis)


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
    if not key_valid(given, keys):
        raise ApiError(401, f"missing or invalid {services.settings.api.key_header} header")
