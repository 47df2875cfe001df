"""One pacing clock per process sends every call's frames: 20 ms apart, the first ones at once,
and a socket that does not drain (or fails) holds back only its own call."""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest

from media_gateway.pacing import FRAME_S, Pacer, PacingClock


class Phone:
    """Records when each message was sent; `hold` makes the next sends wait (a full socket)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, float]] = []
        self.played: list[tuple[int, float]] = []
        self.hold: asyncio.Event | None = None
        self.fail = False

    async def send(self, message: str) -> None:
        if self.fail:
            raise ConnectionResetError("Cannot write to closing transport")
        self.sent.append((message, time.monotonic()))
        if self.hold is not None:
            await self.hold.wait()

    def on_sent(self, item: int, play_at: float) -> None:
        self.played.append((item, play_at))


def pacer_for(phone: Phone, clock: PacingClock, late: list[float] | None = None) -> Pacer[int]:
    pacer: Pacer[int] = Pacer(pacing=clock, on_late=late.append if late is not None else None)
    pacer.attach(phone.send, phone.on_sent)
    return pacer


async def test_one_clock_paces_many_calls_a_frame_per_tick() -> None:
    clock = PacingClock()
    phones = [Phone() for _ in range(40)]
    late: list[float] = []
    pacers = [pacer_for(p, clock, late) for p in phones]
    started = time.monotonic()
    for pacer, phone in zip(pacers, phones, strict=True):
        pushed_at = time.monotonic()
        for k in range(20):
            pacer.push(f"frame {k}", k)
        # The first three frames (the 60 ms lead) go at once, the rest on the clock.
        assert len(phone.sent) == 3
        assert phone.sent[2][1] - pushed_at < 0.005
        await asyncio.sleep(0.0005)  # calls start at different moments
    await asyncio.sleep(20 * FRAME_S + 0.1)
    for phone in phones:
        assert [m for m, _ in phone.sent] == [f"frame {k}" for k in range(20)]
        assert [item for item, _ in phone.played] == list(range(20))
        # Back to back (a stall longer than the lead on a loaded box restarts the schedule).
        plays = [at for _, at in phone.played]
        play_gaps = [b - a for a, b in zip(plays, plays[1:], strict=False)]
        assert min(play_gaps) >= FRAME_S - 1e-9
        assert statistics.median(play_gaps) == pytest.approx(FRAME_S)
        gaps = [b - a for (_, a), (_, b) in zip(phone.sent[3:], phone.sent[4:], strict=False)]
        assert statistics.median(gaps) == pytest.approx(FRAME_S, abs=0.004)
    # One timer for all of them: a tick per 20 ms, not a wake-up per frame per call.
    assert clock.ticks <= (time.monotonic() - started) / FRAME_S + 2
    assert len(late) == 40 * 20
    assert statistics.median(late) < 0.005


async def test_the_clock_stops_when_no_call_has_audio_queued() -> None:
    clock = PacingClock()
    phone = Phone()
    pacer = pacer_for(phone, clock)
    for k in range(5):
        pacer.push(str(k), k)
    await asyncio.sleep(5 * FRAME_S + 0.05)
    ticks = clock.ticks
    await asyncio.sleep(0.1)
    assert clock.ticks == ticks
    assert not pacer.playing()
    pacer.push("again", 5)  # an idle call's first frame goes at once
    assert phone.sent[-1][0] == "again"


async def test_a_socket_that_does_not_drain_holds_back_only_its_own_call() -> None:
    clock = PacingClock()
    stuck, fine = Phone(), Phone()
    stuck.hold = asyncio.Event()
    stuck_pacer, fine_pacer = pacer_for(stuck, clock), pacer_for(fine, clock)
    for k in range(10):
        stuck_pacer.push(str(k), k)
        fine_pacer.push(str(k), k)
    await asyncio.sleep(10 * FRAME_S + 0.05)
    assert len(fine.sent) == 10
    assert len(stuck.sent) == 1  # its first send is still waiting for the socket
    assert stuck_pacer.queued == 9
    stuck.hold.set()
    stuck.hold = None
    await asyncio.sleep(10 * FRAME_S + 0.05)
    assert [m for m, _ in stuck.sent] == [str(k) for k in range(10)]


async def test_a_failed_socket_stops_its_pacing_and_the_others_go_on() -> None:
    clock = PacingClock()
    broken, fine = Phone(), Phone()
    broken_pacer, fine_pacer = pacer_for(broken, clock), pacer_for(fine, clock)
    for k in range(3):
        fine_pacer.push(str(k), k)
    broken.fail = True
    broken_pacer.push("lost", 0)
    broken_pacer.push("never", 1)
    assert broken_pacer.queued == 0 and broken.played == []
    for k in range(3, 8):
        fine_pacer.push(str(k), k)
    await asyncio.sleep(8 * FRAME_S + 0.05)
    assert [m for m, _ in fine.sent] == [str(k) for k in range(8)]


async def test_reset_drops_the_queue_and_restarts_the_schedule() -> None:
    clock = PacingClock()
    phone = Phone()
    pacer = pacer_for(phone, clock)
    for k in range(10):
        pacer.push(str(k), k)
    assert pacer.reset() == 7  # three went at once
    assert not pacer.playing()
    await asyncio.sleep(3 * FRAME_S)
    assert len(phone.sent) == 3
    pacer.push("after", 10)
    assert phone.sent[-1][0] == "after"
    pacer.close()
    pacer.push("closed", 11)
    await asyncio.sleep(2 * FRAME_S)
    assert phone.sent[-1][0] == "after"
