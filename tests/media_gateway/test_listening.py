"""The turn detector, frame by frame: onset dating, voice and span (deterministic)."""

from __future__ import annotations

import numpy as np
import pytest

from media_gateway.listening import (
    MAX_BACKDATE_FRAMES,
    SpeechEnded,
    SpeechPaused,
    SpeechStarted,
    TurnDetector,
    energy_onset,
)


def detector() -> TurnDetector:
    return TurnDetector(0.032, start_ms=60, silence_ms=500, pre_roll_ms=200)


def test_frames_rising_to_the_threshold_date_the_onset_back() -> None:
    turn = detector()
    events = []
    t = 10.0
    for rising in [False, True, True, True]:  # three frames just under the threshold
        t += 0.032
        events.append(turn.push(b"", False, t, rising=rising))
    first_voiced_start = t
    for _ in range(2):
        t += 0.032
        events.append(turn.push(b"", True, t))
    (started,) = [e for e in events if e is not None]
    assert isinstance(started, SpeechStarted)
    # At most two frames back, however long the rise.
    assert started.onset_at == pytest.approx(first_voiced_start - MAX_BACKDATE_FRAMES * 0.032)


def test_voice_counts_voiced_frames_and_the_span_counts_pauses() -> None:
    turn = detector()
    t = 0.0
    pattern = [True] * 5 + [False] * 6 + [True] * 2  # "Wait," a pause, "that"
    for voiced in pattern:
        t += 0.032
        turn.push(b"", voiced, t)
    assert turn.in_speech
    assert turn.voice_s == pytest.approx(7 * 0.032)
    assert turn.voiced_s == pytest.approx(13 * 0.032)  # onset to the last voiced frame
    assert turn.span_at(t + 0.01) == pytest.approx(13 * 0.032 + 0.01)


def test_a_pause_hands_over_the_audio_the_end_of_the_turn_will_have() -> None:
    turn = detector()  # 32 ms frames: the pause comes 6 frames (192 ms) into the silence
    t = 0.0
    pattern = [True] * 10 + [False] * 8 + [True] * 4 + [False] * 20  # a pause, then the end
    events = []
    for i, voiced in enumerate(pattern):
        t += 0.032
        event = turn.push(bytes([i]) * 4, voiced, t)  # each frame's bytes tell which it was
        if event is not None:
            events.append((i, event))
    kinds = [(i, type(e)) for i, e in events]
    # Paused in the short pause too (the caller went on: that audio is not the turn's).
    assert kinds == [(1, SpeechStarted), (15, SpeechPaused), (27, SpeechPaused), (37, SpeechEnded)]
    paused, ended = events[2][1], events[3][1]
    assert isinstance(paused, SpeechPaused) and isinstance(ended, SpeechEnded)
    assert paused.pcm == ended.pcm
    assert ended.pcm == b"".join(bytes([i]) * 4 for i in range(28))  # 6 silent frames kept


RATE = 16_000


def _noise(seconds: float, dbfs: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 32768 * 10 ** (dbfs / 20), round(seconds * RATE))


def _pcm(*parts: np.ndarray) -> bytes:
    return np.clip(np.concatenate(parts), -32768, 32767).astype("<i2").tobytes()


def test_the_energy_onset_finds_an_unvoiced_start_before_the_first_voiced_frame() -> None:
    # A quiet line, then the /s/ of "Sorry" (60 ms, 25 dB under the vowel), then the vowel,
    # which is where Silero first says "voiced".
    line, fricative, vowel = _noise(0.2, -60, 1), _noise(0.06, -35, 2), _noise(0.032, -10, 3)
    pcm = _pcm(line, fricative, vowel)
    voiced_from = (line.size + fricative.size) * 2
    onset = energy_onset(pcm, RATE, voiced_from)
    assert onset == line.size * 2  # the fricative's first 10 ms window


def test_no_energy_onset_under_echo_or_for_a_faint_click() -> None:
    # The bot's echo as loud as the caller's start: the floor is too high to date anything.
    echo, start, vowel = _noise(0.2, -35, 1), _noise(0.06, -35, 2), _noise(0.032, -10, 3)
    voiced_from = (echo.size + start.size) * 2
    assert energy_onset(_pcm(echo, start, vowel), RATE, voiced_from) == voiced_from
    # Digital silence, then a click 50 dB under the voice: above the floor, but not speech.
    silence, click = np.zeros(round(0.2 * RATE)), _noise(0.03, -60, 4)
    voiced_from = (silence.size + click.size) * 2
    assert energy_onset(_pcm(silence, click, vowel), RATE, voiced_from) == voiced_from


def test_the_energy_onset_goes_back_at_most_100_ms() -> None:
    line, start, vowel = _noise(0.3, -60, 1), _noise(0.2, -30, 2), _noise(0.032, -10, 3)
    voiced_from = (line.size + start.size) * 2
    onset = energy_onset(_pcm(line, start, vowel), RATE, voiced_from)
    assert (voiced_from - onset) / 2 / RATE == pytest.approx(0.1)
