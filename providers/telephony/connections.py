"""Which call a telephony connection id belongs to, so a callback cannot cross calls."""

from __future__ import annotations

from redis.asyncio import Redis

TTL_SEC = 48 * 3600


class ConnectionRegistry:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    @staticmethod
    def key(connection_id: str) -> str:
        return f"acs:connection:{connection_id}"

    async def link(self, connection_id: str, call_id: str) -> None:
        await self._redis.set(self.key(connection_id), call_id, ex=TTL_SEC)

    async def call_for(self, connection_id: str) -> str | None:
        value = await self._redis.get(self.key(connection_id))
        if value is None:
            return None
        return value.decode() if isinstance(value, bytes) else str(value)
