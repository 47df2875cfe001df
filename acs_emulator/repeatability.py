"""Repeatable requests: a repeated Repeatability-Request-ID gets the first answer, no new effect."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from acs_emulator.errors import AcsError


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    content_type: str | None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Entry:
    first_seen: float
    fingerprint: str
    result: asyncio.Future[StoredResponse]


class RepeatabilityCache:
    """Keeps each request's response for ttl_s; a concurrent repeat waits for the first."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[str, _Entry] = {}

    def clear(self) -> None:
        self._entries.clear()

    async def run(
        self,
        request_id: str,
        fingerprint: str,
        handle: Callable[[], Awaitable[StoredResponse]],
    ) -> tuple[StoredResponse, bool]:
        """The response, and whether it is a replay of an earlier request."""
        now = time.monotonic()
        for key in [k for k, e in self._entries.items() if now - e.first_seen > self.ttl_s]:
            del self._entries[key]
        entry = self._entries.get(request_id)
        if entry is not None:
            if entry.fingerprint != fingerprint:
                raise AcsError(
                    400,
                    "8523",
                    "Invalid request. Repeatability-Request-ID was already used for "
                    f"{entry.fingerprint}.",
                )
            return await asyncio.shield(entry.result), True
        future: asyncio.Future[StoredResponse] = asyncio.get_running_loop().create_future()
        self._entries[request_id] = _Entry(now, fingerprint, future)
        try:
            response = await handle()
        except BaseException as exc:
            self._entries.pop(request_id, None)
            future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            future.exception()  # retrieved: waiters re-raise it, nobody else needs to
            raise
        if response.status >= 500:  # a server failure is not an answer worth repeating
            self._entries.pop(request_id, None)
        future.set_result(response)
        return response, False
