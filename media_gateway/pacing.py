"""Real-time pacing of bot audio: 20 ms frames, sent just ahead of when they play.

ACS plays what it receives; sending faster only fills its buffer, and a `StopAudio` must
drop as little as possible. So a frame goes out when the audio already sent is at most
`lead_s` ahead of the clock. Play times are `start + k * frame_s` (no accumulated sleep
error); when the queue ran dry the schedule restarts at the current time.

One `PacingClock` per process sends for every call: it wakes every 20 ms and sends each
playing call's due frames in one pass. A timer and a task wake-up per frame per call (what
each call's own sleeping sender cost) were most of the pacing's CPU at a few hundred calls.
A call's first frames go out at once (not at the next tick): the caller hears the bot as
soon as there is audio. Between ticks a frame may wait up to one tick: the lead (60 ms,
three frames) absorbs it, and each call still gets one frame per tick.
"""

from __future__ import annotations

import asyncio
import logging
import time
import types
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
FRAME_S = 0.02


class PacingClock:
    """Ticks every `frame_s` while some call has audio queued; idle, it holds no timer."""

    def __init__(
        self,
        frame_s: float = FRAME_S,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.frame_s = frame_s
        self.clock = clock
        self._pacers: dict[Pacer[Any], None] = {}  # with frames queued; ordered, for fairness
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0  # observability, tests

    def add(self, pacer: Pacer[Any]) -> None:
        self._pacers[pacer] = None
        task = self._task
        # One clock per process, but tests run one event loop each: a clock left on a
        # closed loop starts again on the current one.
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            self._task = asyncio.create_task(self._run())

    def discard(self, pacer: Pacer[Any]) -> None:
        self._pacers.pop(pacer, None)

    async def _run(self) -> None:
        start, k = self.clock(), 0
        while self._pacers:
            k += 1
            tick_at = start + k * self.frame_s
            wait = tick_at - self.clock()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -self.frame_s:  # a stalled loop: one catch-up pass, not a burst of ticks
                start, k = tick_at, 0
            self.ticks += 1
            now = self.clock()
            for pacer in list(self._pacers):
                pacer.pump(now, tick_at)


_default: PacingClock | None = None


def process_clock() -> PacingClock:
    """The clock every call of this process shares."""
    global _default
    if _default is None:
        _default = PacingClock()
    return _default


@types.coroutine
def _resume(coro: Coroutine[Any, Any, None], yielded: Any) -> Generator[Any, Any, None]:
    """Drive on a coroutine that `_send_now` started by hand and that suspended on `yielded`:
    the task awaiting this sees what the coroutine yields, as if it had run it from the start
    (what Python 3.12's eager tasks do)."""
    while True:
        try:
            sent = yield yielded
        except BaseException as exc:  # a cancel (or a future's error) goes to the coroutine
            try:
                yielded = coro.throw(exc)
            except StopIteration:
                return
        else:
            try:
                yielded = coro.send(sent)
            except StopIteration:
                return


async def _finish(coro: Coroutine[Any, Any, None], yielded: Any) -> None:
    await _resume(coro, yielded)


class Pacer(Generic[T]):
    """One call's outbound frames, sent on the process clock: `push` a frame, `on_sent` hears
    of each one sent (with when it plays). `send` writes one message to the socket."""

    def __init__(
        self,
        frame_s: float = FRAME_S,
        *,
        lead_s: float = 0.06,
        clock: Callable[[], float] | None = None,
        on_late: Callable[[float], None] | None = None,
        pacing: PacingClock | None = None,
    ) -> None:
        self._pacing = pacing or process_clock()
        self.frame_s = frame_s
        self.lead_s = lead_s
        self._clock = clock or self._pacing.clock
        self._on_late = on_late  # called with how late past its tick each frame went out
        self._start = 0.0
        self._count = 0  # frames scheduled since `_start`
        self._queue: deque[tuple[str, T]] = deque()
        self._send: Callable[[str], Awaitable[None]] | None = None
        self._on_sent: Callable[[T, float], None] | None = None
        self._blocked: asyncio.Future[None] | None = None  # a send waiting for the socket
        self._closed = False

    def attach(
        self, send: Callable[[str], Awaitable[None]], on_sent: Callable[[T, float], None]
    ) -> None:
        self._send, self._on_sent = send, on_sent

    @property
    def playing_until(self) -> float:
        """Monotonic time at which the audio sent so far has finished playing."""
        return self._start + self._count * self.frame_s

    def playing(self) -> bool:
        return self._clock() < self.playing_until

    @property
    def queued(self) -> int:
        return len(self._queue)

    def push(self, message: str, item: T) -> None:
        """Queue one frame's message; `item` is handed back to `on_sent` when it is sent."""
        if self._closed:
            return
        self._queue.append((message, item))
        if len(self._queue) == 1:  # was idle: what is due goes now, the rest on the clock
            now = self._clock()
            self.pump(now, now)
            if self._queue:
                self._pacing.add(self)

    def pump(self, now: float, tick_at: float) -> None:
        """Send the frames due at `now` (the clock's tick scheduled at `tick_at`)."""
        if self._blocked is not None and not self._blocked.done():
            return  # a socket that does not drain waits; the other calls do not
        self._blocked = None
        frame_s = self.frame_s
        while self._queue:
            if now >= self.playing_until:  # underrun or first frame: play from now
                self._start, self._count = now, 0
            play_at = self.playing_until
            send_at = play_at + frame_s - self.lead_s
            if send_at > now:
                break
            if self._on_late is not None:
                # Late past the tick it was due at, not past `send_at`: a frame due between
                # two ticks waits for the next by design (the lead covers it). Nothing is
                # due before its schedule started (the first frames go at once).
                due = max(send_at, self._start)
                missed = (tick_at - due) // frame_s if due < tick_at else 0.0
                self._on_late(now - tick_at + missed * frame_s)
            self._count += 1
            message, item = self._queue.popleft()
            if not self._send_now(message):
                break
            if self._on_sent is not None:
                self._on_sent(item, play_at)
            if self._blocked is not None:
                break
        if not self._queue:
            self._pacing.discard(self)

    def _send_now(self, message: str) -> bool:
        """Start sending; the rest of a send that waits (a full socket buffer) runs in a task.
        A socket that fails is done: its queue is dropped."""
        assert self._send is not None, "Pacer.attach first"
        coro = self._send(message)
        if not isinstance(coro, Coroutine):  # an awaitable that is not a coroutine
            self._wait_for(asyncio.ensure_future(coro))
            return True
        try:
            yielded = coro.send(None)
        except StopIteration:
            return True
        except Exception as exc:  # the socket closed under us: the session is ending
            self._failed(exc)
            return False
        self._wait_for(asyncio.ensure_future(_finish(coro, yielded)))
        return True

    def _wait_for(self, task: asyncio.Future[None]) -> None:
        def done(task: asyncio.Future[None]) -> None:
            if not task.cancelled() and (exc := task.exception()) is not None:
                self._failed(exc)

        task.add_done_callback(done)
        self._blocked = task

    def _failed(self, exc: BaseException) -> None:
        log.info("audio not sent (%s: %s); the call's pacing stops", type(exc).__name__, exc)
        self.close()

    def reset(self) -> int:
        """Drop the queued frames and forget the schedule (a `StopAudio` dropped what ACS
        had queued). Returns how many frames were dropped."""
        dropped = len(self._queue)
        self._queue.clear()
        self._pacing.discard(self)
        self._start, self._count = 0.0, 0
        return dropped

    def close(self) -> None:
        """Nothing more is sent (the socket is gone)."""
        self._closed = True
        self._queue.clear()
        self._pacing.discard(self)
