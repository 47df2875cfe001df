"""What a replacement gateway needs from the session before it, kept in Redis.

- The *played* position: the last entry of the call's sentence stream up to which every entry
  is settled, played to its last frame or deliberately never played (a dropped turn, an
  entry already played). A replacement resumes right after it, so it says the first
  unfinished sentence and nothing the caller already heard.
- The *hearing* flag: set while caller speech is in the gateway's hands (from its onset until
  the turn is acknowledged or the speech was judged not to be a turn). A replacement that finds
  it set knows the caller's words were cut by the gateway's death.

Writes go through one background task that keeps only the latest value: a SET per sentence
at most, never one per frame, and a slow Redis never holds the audio back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from redis.asyncio import Redis
from redis.exceptions import RedisError

from providers.sentences.redis_stream import RedisSentenceStream

log = logging.getLogger(__name__)

RETRY_SEC = 0.5  # Redis away: the latest value is written when it is back
HEARING_TTL_SEC = 120  # a flag outlives no plausible restart; a stale one must not last


def hearing_key(call_id: str) -> str:
    return f"call:{call_id}:hearing"


async def caller_was_speaking(redis: Redis, call_id: str) -> bool:
    """Whether the previous session died while it held the caller's words."""
    return bool(await redis.exists(hearing_key(call_id)))


class PlayedMarks:
    """Entries in the order read; `settle` them as they finish; the settled prefix is saved."""

    def __init__(self, call_id: str, sentences: RedisSentenceStream, redis: Redis) -> None:
        self.call_id = call_id
        self._sentences = sentences
        self._redis = redis
        self._open: deque[tuple[str, int]] = deque()  # (entry id, turn), read order
        self._settled: set[str] = set()
        self.position: str | None = None  # the settled prefix's last entry
        self.hearing = False
        self._saved: tuple[str | None, bool] = (None, False)
        self._changed = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    def start(self, position: str, *, save: bool, was_hearing: bool = False) -> None:
        """`position`: where reading starts; `save`: write it now (no session wrote one yet, so
        a replacement finds what this one had not played); `was_hearing`: the flag as found
        (this session clears it)."""
        self.position = position
        self._saved = (None if save else position, was_hearing)
        self._writer = asyncio.create_task(self._write())
        self._changed.set()

    def read(self, entry_id: str, turn_id: int) -> None:
        self._open.append((entry_id, turn_id))

    def settle(self, entry_id: str | None) -> None:
        if entry_id is None:  # a gateway phrase: not in the stream
            return
        self._settled.add(entry_id)
        self._advance()

    def settle_turn(self, turn_id: int) -> None:
        """A dropped turn: its entries read so far will never be played."""
        for entry_id, turn in self._open:
            if turn <= turn_id:
                self._settled.add(entry_id)
        self._advance()

    def set_hearing(self, hearing: bool) -> None:
        if hearing != self.hearing:
            self.hearing = hearing
            self._changed.set()

    def _advance(self) -> None:
        moved = False
        while self._open and self._open[0][0] in self._settled:
            entry_id, _ = self._open.popleft()
            self._settled.discard(entry_id)
            self.position = entry_id
            moved = True
        if moved:
            self._changed.set()

    async def _write(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            try:
                await self._save()
            except RedisError as exc:
                log.warning("call %s: playback marks not saved: %s", self.call_id, exc)
                await asyncio.sleep(RETRY_SEC)
                self._changed.set()

    async def _save(self) -> None:
        position, hearing = self.position, self.hearing
        saved_position, saved_hearing = self._saved
        if position is not None and position != saved_position:
            await self._sentences.mark_taken(self.call_id, position)
            saved_position = position
            self._saved = (saved_position, saved_hearing)
        if hearing != saved_hearing:
            key = hearing_key(self.call_id)
            if hearing:
                await self._redis.set(key, "1", ex=HEARING_TTL_SEC)
            else:
                await self._redis.delete(key)
            self._saved = (saved_position, hearing)

    async def close(self, wait_s: float) -> None:
        """A graceful end: write what is pending (a killed gateway's marks stay as written)."""
        if self._writer is None:
            return
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        with contextlib.suppress(RedisError, TimeoutError):
            await asyncio.wait_for(self._save(), wait_s)
