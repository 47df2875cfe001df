"""Keypad: keys pressed close together are one turn, "(keypad) 0612", sent when they stop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


class Keypad:
    def __init__(
        self,
        gather_s: float,
        send_turn: Callable[[str, float], Awaitable[None]],
        clock: Callable[[], float],
    ) -> None:
        """`send_turn(text, ended_at)`: sends the keys as a turn."""
        self._gather_s = gather_s
        self._send_turn = send_turn
        self._clock = clock
        self._keys: list[str] = []
        self.task: asyncio.Task[None] | None = None

    def press(self, tone: str) -> None:
        self._keys.append(tone)
        if self.task is not None:
            self.task.cancel()
        self.task = asyncio.create_task(self._send_keys())

    async def _send_keys(self) -> None:
        await asyncio.sleep(self._gather_s)
        keys, self._keys = "".join(self._keys), []
        await self._send_turn(f"(keypad) {keys}", self._clock())
