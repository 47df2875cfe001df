"""A call's sentences as a Redis stream `call:{call_id}:sentences`.

Entry format: one field per `SentenceEvent` field, every value a UTF-8 string
(`turn_id`, `iteration`, `kind`, `text`, `style`, `lang`, `rate`), e.g.
`XADD call:abc:sentences * turn_id 3 iteration 0 kind sentence text "Hello." style none
lang en-US rate 1.0`. Flat fields keep `XRANGE` readable and need no JSON in the reader.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from domain.contracts import SentenceEvent


class RedisSentenceStream:
    """Appends and reads a call's sentence events; the stream is capped and expires."""

    def __init__(self, redis: Redis, *, maxlen: int = 500, ttl_sec: int = 21_600) -> None:
        self._redis = redis
        self._maxlen = maxlen
        self._ttl_sec = ttl_sec

    @staticmethod
    def key(call_id: str) -> str:
        return f"call:{call_id}:sentences"

    async def append(self, call_id: str, event: SentenceEvent) -> str:
        """XADD the event (approximate MAXLEN) and refresh the key's TTL in one round trip."""
        key = self.key(call_id)
        fields: dict[Any, Any] = {k: str(v) for k, v in event.model_dump(mode="json").items()}
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xadd(key, fields, maxlen=self._maxlen, approximate=True)
            pipe.expire(key, self._ttl_sec)
            entry_id, _ = await pipe.execute()
        return _text(entry_id)

    async def mark_taken(self, call_id: str, entry_id: str) -> None:
        """Remember the last entry a gateway took to speak (a replacement starts after it)."""
        await self._redis.set(f"call:{call_id}:taken", entry_id, ex=self._ttl_sec)

    async def last_taken(self, call_id: str) -> str | None:
        value: Any = await self._redis.get(f"call:{call_id}:taken")
        return None if value is None else _text(value)

    async def read(
        self, call_id: str, *, after: str = "0-0", block_ms: int | None = None, count: int = 100
    ) -> list[tuple[str, SentenceEvent]]:
        """Events with an id greater than `after`, oldest first; `block_ms` waits for new ones."""
        found: Any = await self._redis.xread(
            {self.key(call_id): after}, count=count, block=block_ms
        )
        # RESP2 answers [[stream, entries]], RESP3 {stream: entries}.
        streams = found.items() if isinstance(found, dict) else found or []
        out = []
        for _stream, entries in streams:
            for entry_id, fields in entries:
                event = {_text(k): _text(v) for k, v in fields.items()}
                out.append((_text(entry_id), SentenceEvent.model_validate(event)))
        return out


def _text(value: bytes | str) -> str:
    # The client may or may not have been built with decode_responses=True.
    return value.decode() if isinstance(value, bytes) else value
