"""Feature flags kept in a Redis hash, cached in process so a turn does not pay a round trip."""

from __future__ import annotations

import time
from typing import Any

from redis.asyncio import Redis

from domain.flags import FLAG_SPECS, FeatureFlags, flags_from_mapping, parse_flag


class RedisFlags:
    """Reads flags from `HGETALL key`; values are validated and clamped, bad ones defaulted.

    Operators change a flag with `callcenter flags set NAME VALUE` (or `HSET`); running
    processes see it within `ttl_sec` (≤ 60 s), with no restart.
    """

    def __init__(
        self, redis: Redis, *, key: str = "callcenter:flags", ttl_sec: float = 60.0
    ) -> None:
        self._redis = redis
        self._key = key
        self._ttl = ttl_sec
        self._cached: FeatureFlags | None = None
        self._expires = 0.0

    async def get(self) -> FeatureFlags:
        now = time.monotonic()
        if self._cached is not None and now < self._expires:
            return self._cached
        raw: dict[Any, Any] = await self._redis.hgetall(self._key)
        values = {_text(k): _text(v) for k, v in raw.items()}
        self._cached = flags_from_mapping(values)
        self._expires = now + self._ttl
        return self._cached

    async def set(self, name: str, value: str) -> int | float | bool:
        """Validate strictly (raising `InvalidFlag`), store, and return the clamped value."""
        parsed = parse_flag(name, value, strict=True)
        await self._redis.hset(self._key, name, str(parsed).lower())
        self._cached = None
        return parsed

    async def unset(self, name: str) -> None:
        if name not in FLAG_SPECS:
            parse_flag(name, None, strict=True)  # raises InvalidFlag naming the known flags
        await self._redis.hdel(self._key, name)
        self._cached = None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
