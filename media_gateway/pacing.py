"""Real-time pacing of bot audio: 20 ms frames, sent just ahead of when they play.

ACS plays what it receives; sending faster only fills its buffer, and a `StopAudio` must
drop as little as possible. So a frame goes out when the audio already sent is at most
`lead_s` ahead of the clock. Play times are `start + k * frame_s` (no accumulated sleep
error); when the queue ran dry the schedule restarts at the current time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class Pacer:
    def __init__(
        self,
        frame_s: float = 0.02,
        *,
        lead_s: float = 0.06,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_late: Callable[[float], None] | None = None,
    ) -> None:
        self.frame_s = frame_s
        self.lead_s = lead_s
        self._clock = clock
        self._sleep = sleep
        self._on_late = on_late  # called with how late past its send time each frame went out
        self._start = 0.0
        self._count = 0  # frames scheduled since `_start`

    @property
    def playing_until(self) -> float:
        """Monotonic time at which the audio sent so far has finished playing."""
        return self._start + self._count * self.frame_s

    def playing(self) -> bool:
        return self._clock() < self.playing_until

    async def slot(self) -> float:
        """Wait until the next frame may be sent; returns when that frame starts playing."""
        now = self._clock()
        if now >= self.playing_until:  # underrun or first frame: play from now
            self._start, self._count = now, 0
        play_at = self.playing_until
        send_at = play_at + self.frame_s - self.lead_s
        if send_at > now:
            await self._sleep(send_at - now)
        if self._on_late is not None:
            self._on_late(self._clock() - send_at)
        self._count += 1
        return play_at

    def reset(self) -> None:
        """Forget the schedule (the queued audio was dropped by a `StopAudio`)."""
        self._start, self._count = 0.0, 0
