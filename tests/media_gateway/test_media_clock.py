"""The media clock places inbound frames where they were spoken: bursts keep their timeline,
a gap in the stream moves the clock after one frame."""

from __future__ import annotations

import pytest

from media_gateway.media_clock import MediaClock

FRAME = 0.02


def test_frames_arriving_in_real_time_are_placed_at_their_arrival() -> None:
    clock = MediaClock()
    ends = [clock.advance(FRAME, 100.0 + (k + 1) * FRAME) for k in range(50)]
    assert ends == pytest.approx([100.0 + (k + 1) * FRAME for k in range(50)])


def test_a_burst_after_a_stall_keeps_its_timeline() -> None:
    clock = MediaClock()
    for k in range(10):
        clock.advance(FRAME, 100.0 + (k + 1) * FRAME)
    # The gateway stalled 300 ms: the 15 frames spoken meanwhile arrive at once.
    ends = [clock.advance(FRAME, 100.5 + 0.0002 * k) for k in range(15)]
    assert ends == pytest.approx([100.2 + (k + 1) * FRAME for k in range(15)])
    # Then the stream is back in real time.
    assert clock.advance(FRAME, 100.52) == pytest.approx(100.52)


def test_jitter_within_a_frame_places_frames_where_they_were_spoken() -> None:
    clock = MediaClock()
    arrivals = [100.02, 100.055, 100.06, 100.095, 100.1]  # some 15 ms late
    ends = [clock.advance(FRAME, at) for at in arrivals]
    assert ends == pytest.approx([100.02, 100.04, 100.06, 100.08, 100.1])


def test_a_gap_in_the_stream_moves_the_clock_after_one_frame() -> None:
    clock = MediaClock()
    for k in range(10):
        clock.advance(FRAME, 100.0 + (k + 1) * FRAME)
    # 400 ms of audio never came; the stream goes on in real time.
    first = clock.advance(FRAME, 100.62)
    assert first == pytest.approx(100.22)  # taken for a backlog: the one misplaced frame
    ends = [clock.advance(FRAME, 100.64 + k * FRAME) for k in range(5)]
    assert ends == pytest.approx([100.64 + k * FRAME for k in range(5)])


def test_a_clock_never_places_audio_after_it_arrived() -> None:
    clock = MediaClock()
    arrivals = [100.02, 100.3, 100.3, 100.31, 100.35, 100.37, 100.9, 100.92, 100.94]
    for at in arrivals:
        assert clock.advance(FRAME, at) <= at + 1e-9
