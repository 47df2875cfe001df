"""A call's sentences as a Redis stream `call:{call_id}:sentences`.

Entry format: one field per `SentenceEvent` field, every value a UTF-8 string
(`turn_id`, `iteration`, `index`, `kind`, `text`, `style`, `lang`, `rate`), e.g.
`XADD call:abc:sentences * turn_id 3 iteration 0 index 0 kind sentence text "Hello."
style none lang en-US rate 1.0`. Flat fields keep `XRANGE` readable and need no JSON in the
reader.

Activities append with `append_once`: each event has a key (by default its turn, iteration and
index), kept with its entry id and text in the hash `call:{call_id}:keys`, so that a retried
activity appends only what its earlier attempts did not. The check and the `XADD` are one Lua
script: two attempts racing (a worker thought dead, and its replacement) cannot both append.
A Redis restart without its data loses the hash: `llm_turn` also carries what it appended in its
heartbeat details, so its retries skip those (activities/llm.py; docs/deploy.md lists what
each Redis key holds and what its loss costs).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from core import tracing
from domain.contracts import SentenceEvent
from providers.sentences.base import Appended

# KEYS: the stream, the keys hash. ARGV: the event's key, MAXLEN, TTL, text, then the fields.
# Answers {1, "id\ntext"} when it appended, else {0, "id\ntext"} of the first append.
_APPEND_ONCE = """
local seen = redis.call('HGET', KEYS[2], ARGV[1])
if seen then return {0, seen} end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 5))
local value = id .. '\\n' .. ARGV[4]
redis.call('HSET', KEYS[2], ARGV[1], value)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return {1, value}
"""


def event_key(event: SentenceEvent) -> str:
    return f"{event.turn_id}:{event.iteration}:{event.index}"


class RedisSentenceStream:
    """Appends and reads a call's sentence events; the stream is capped and expires."""

    def __init__(self, redis: Redis, *, maxlen: int = 500, ttl_sec: int = 21_600) -> None:
        self._redis = redis
        self._maxlen = maxlen
        self._ttl_sec = ttl_sec
        self._append_once = redis.register_script(_APPEND_ONCE)  # EVALSHA, loaded on demand

    @staticmethod
    def key(call_id: str) -> str:
        return f"call:{call_id}:sentences"

    @staticmethod
    def keys_key(call_id: str) -> str:
        return f"call:{call_id}:keys"

    async def append(self, call_id: str, event: SentenceEvent) -> str:
        """XADD the event (approximate MAXLEN) and refresh the key's TTL in one round trip.

        Not idempotent: for tools and tests that feed a stream; activities use `append_once`.
        """
        key = self.key(call_id)
        fields: dict[Any, Any] = _fields(event)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xadd(key, fields, maxlen=self._maxlen, approximate=True)
            pipe.expire(key, self._ttl_sec)
            entry_id, _ = await pipe.execute()
        return _text(entry_id)

    async def append_once(
        self, call_id: str, event: SentenceEvent, key: str | None = None
    ) -> Appended:
        """Append the event unless one with the same key already was (a retried activity).

        `key` defaults to `event_key(event)`; a static phrase passes its own.
        """
        fields = [x for pair in _fields(event).items() for x in pair]
        args: list[str | int] = [key or event_key(event), self._maxlen, self._ttl_sec, event.text]
        keys = [self.key(call_id), self.keys_key(call_id)]
        with tracing.TRACER.start_as_current_span(
            "sentences.append", attributes={"turn.id": event.turn_id, "sentence.index": event.index}
        ):
            found: Any = await self._append_once(keys=keys, args=[*args, *fields])
        new, value = found
        entry_id, _, text = _text(value).partition("\n")
        return Appended(entry_id, text, bool(int(new)))

    async def appended(self, call_id: str, turn_id: int, iteration: int) -> dict[int, str]:
        """The texts already appended for this turn and iteration, by index."""
        prefix = f"{turn_id}:{iteration}:"
        found: dict[Any, Any] = await self._redis.hgetall(self.keys_key(call_id))
        out: dict[int, str] = {}
        for field, value in found.items():
            rest = _text(field).removeprefix(prefix)
            if rest != _text(field) and rest.lstrip("-").isdigit():
                out[int(rest)] = _text(value).partition("\n")[2]
        return out

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


def _fields(event: SentenceEvent) -> dict[str, str]:
    return {k: str(v) for k, v in event.model_dump(mode="json").items()}


def _text(value: bytes | str) -> str:
    # The client may or may not have been built with decode_responses=True.
    return value.decode() if isinstance(value, bytes) else value
