"""The echo guard's reference of played audio (its matching is tested on real speech in
`test_real_audio` and through sessions in `test_session`)."""

from __future__ import annotations

import numpy as np

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


def test_an_echo_of_the_last_frames_is_still_found_after_a_long_monologue() -> None:
    guard = EchoGuard(RATE)
    rng = np.random.default_rng(2)
    bot = rng.normal(0, 3000, RATE * 30).astype("<i2")
    for k in range(bot.size // 320):
        guard.played(k * 0.02, bot[k * 320 : (k + 1) * 320].tobytes())
    end = bot.size / RATE
    # The caller's line carries the bot's last audio back, 120 ms late and 10 dB down.
    delay = round(0.12 * RATE)
    echo = (bot[-delay - 1536 : -delay] * 0.316).astype("<i2")
    for i in range(0, 1024, 512):
        guard.heard(echo[i : i + 512].tobytes())
    last = echo[1024:].tobytes()
    assert guard.is_echo(last, end_at=end)


def test_an_echo_arriving_in_a_backlog_is_still_found() -> None:
    # The gateway stalled: the caller's frames spoken 0.8 s ago are tested only now, after
    # the bot's audio went on playing (and being recorded) meanwhile.
    guard = EchoGuard(RATE)
    rng = np.random.default_rng(3)
    bot = rng.normal(0, 3000, RATE * 4).astype("<i2")
    for k in range(bot.size // 320):
        guard.played(k * 0.02, bot[k * 320 : (k + 1) * 320].tobytes())
    spoken_at = bot.size / RATE - 0.8
    delay = round(0.12 * RATE)
    stop = round(spoken_at * RATE) - delay
    echo = (bot[stop - 1536 : stop] * 0.316).astype("<i2")
    for i in range(0, 1024, 512):
        guard.heard(echo[i : i + 512].tobytes())
    assert guard.is_echo(echo[1024:].tobytes(), end_at=spoken_at)
