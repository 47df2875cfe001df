"""Shared fixtures: real services started once per test session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from core.redis_server import RedisProcess


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A private, empty redis-server for the whole session."""
    server = RedisProcess().start()
    yield server.url
    server.stop()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()
