"""The echo guard's reference of played audio (its matching is tested on real speech in
`test_real_audio` and through sessions in `test_session`)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from media_gateway.echo import EchoGuard

RATE = 16_000


def test_the_reference_keeps_only_what_an_echo_can_still_come_from() -> None:
    guard = EchoGuard(RATE, max_lag_s=0.3)
    frame = np.random.default_rng(1).normal(0, 3000, 320).astype("<i2").tobytes()
    for k in range(50 * 60):  # the bot talks for a minute; the caller says nothing
        guard.played(k * 0.02, frame)
    kept = guard._played
    # The lag, the 64 ms of context, a margin and a 2 s backlog: ~123 frames, not 3,000.
    assert len(kept) <= 125
    assert kept[-1][0] == (50 * 60 - 1) * 0.02


def bot_speaks(guard: EchoGuard, seconds: int, seed: int) -> npt.NDArray[np.int16]:
    """The bot's audio (noise) for `seconds`, recorded as played from 0 s in 20 ms frames."""
    bot = np.random.default_rng(seed).normal(0, 3000, RATE * seconds).astype("<i2")
    for k in range(bot.size // 320):
        guard.played(k * 0.02, bot[k * 320 : (k + 1) * 320].tobytes())
    return bot


def echo_until(guard: EchoGuard, bot: npt.NDArray[np.int16], stop: int) -> bytes:
    """The bot's audio up to sample `stop`, 10 dB down, on the caller's line: its first 64 ms
    heard as context, its last 32 ms frame returned (to test)."""
    echo = (bot[stop - 1536 : stop] * 0.316).astype("<i2")
    for i in range(0, 1024, 512):
        guard.heard(echo[i : i + 512].tobytes())
    return echo[1024:].tobytes()


def test_an_echo_of_the_last_frames_is_still_found_after_a_long_monologue() -> None:
    guard = EchoGuard(RATE)
    bot = bot_speaks(guard, 30, seed=2)
    # The caller's line carries the bot's last audio back, 120 ms late.
    last = echo_until(guard, bot, bot.size - round(0.12 * RATE))
    assert guard.is_echo(last, end_at=bot.size / RATE)


def test_an_echo_arriving_in_a_backlog_is_still_found() -> None:
    # The gateway stalled: the caller's frames spoken 0.8 s ago are tested only now, after
    # the bot's audio went on playing (and being recorded) meanwhile.
    guard = EchoGuard(RATE)
    bot = bot_speaks(guard, 4, seed=3)
    spoken_at = bot.size / RATE - 0.8
    last = echo_until(guard, bot, round(spoken_at * RATE) - round(0.12 * RATE))
    assert guard.is_echo(last, end_at=spoken_at)
