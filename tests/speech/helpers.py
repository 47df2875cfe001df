"""Shared helpers of the speech tests: word error rate, level-based bounds, VAD segmentation."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from providers.speech.audio import frames
from providers.speech.base import Vad

ACCIDENT = "I would like to report a car accident that happened yesterday."
GREETING = "Thank you for calling. Can you please tell me your policy number?"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level edit distance over the reference length."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))


def speech_bounds(pcm: bytes, rate: int, *, window_s: float = 0.01) -> tuple[float, float]:
    """Where the signal is audibly speech: first and last 10 ms window above -30 dB of the peak."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    win = int(rate * window_s)
    levels = np.sqrt(np.mean(x[: x.size // win * win].reshape(-1, win) ** 2, axis=1))
    loud = np.flatnonzero(levels > levels.max() * 10 ** (-30 / 20))
    return loud[0] * window_s, (loud[-1] + 1) * window_s


def vad_probabilities(vad: Vad, pcm: bytes) -> list[float]:
    vad.reset()
    return [vad.probability(f) for f in frames(pcm, 2 * vad.frame_samples)]


def segments(
    probs: Sequence[float],
    frame_s: float,
    *,
    onset: float = 0.5,
    offset: float = 0.35,
    hangover_s: float = 0.3,
) -> list[tuple[float, float]]:
    """Hysteresis segmentation: speech starts above ``onset`` and ends after ``hangover_s``
    below ``offset`` (the end is the last frame above ``offset``)."""
    found: list[tuple[float, float]] = []
    start: int | None = None
    last_voiced = 0
    for i, p in enumerate(probs):
        if start is None:
            if p >= onset:
                start, last_voiced = i, i
        elif p >= offset:
            last_voiced = i
        elif (i - last_voiced) * frame_s >= hangover_s:
            found.append((start * frame_s, (last_voiced + 1) * frame_s))
            start = None
    if start is not None:
        found.append((start * frame_s, (last_voiced + 1) * frame_s))
    return found
