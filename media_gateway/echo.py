"""Echo guard: the bot's own voice coming back on the caller's channel (speakerphone).

The gateway keeps what it played, on the playback timeline. An inbound frame is echo when it
is explained by that reference delayed by 0..`max_lag_s`: the normalised cross-correlation
(NCC) between the inbound audio and the reference, at the best lag, is above `threshold`.

The NCC is taken over the frame and the `context_s` of inbound audio before it (96 ms in all
at the defaults), then checked on the frame alone near the lag found (the playout may slip
by a frame). One 32 ms frame is too short: a few pitch periods of a caller's vowel match
some stretch of the bot's speech by chance (a quarter of a same-voice caller's frames did,
at 0.6). A real echo also keeps its delay: a match at a new delay must be strong
(`lock_threshold`), one at the delay of the echo heard just before may be weaker; chance
matches are weak and at random delays. Caller speech over the echo lowers the frame's
correlation (it is not in the reference), so it still counts as speech. A room or handset
filter lowers it too: this catches the common attenuated, delayed copy, not a full acoustic
echo canceller.
"""

from __future__ import annotations

from collections import deque

import numpy as np

# The echo's delay moves with the playout's jitter (ACS's buffer, our pacing's lead of up to
# 60 ms); it is remembered for a while.
DELAY_TOLERANCE_S = 0.05
DELAY_MEMORY_S = 2.0
# Within the 96 ms window the playout may have slipped by a frame: the frame alone is matched
# this close to the window's lag.
SLIP_S = 0.02
# Inbound audio may be tested this long after it was played: a backlog of caller frames after
# a stall is placed where it was spoken (`media_clock`), and its echo must still be there.
BACKLOG_S = 2.0


class EchoGuard:
    """Reference of played audio at `rate` (the VAD's), and the echo test of inbound frames."""

    def __init__(
        self,
        rate: int,
        *,
        max_lag_s: float = 0.3,
        threshold: float = 0.6,
        lock_threshold: float = 0.75,
        context_s: float = 0.064,
    ) -> None:
        self.rate = rate
        self.max_lag_s = max_lag_s
        self.threshold = threshold
        self.lock_threshold = lock_threshold
        self._delay: int | None = None  # the echo path's delay (samples), last seen...
        self._delay_at = 0.0  # ...at this monotonic time
        self._delay_tolerance = round(DELAY_TOLERANCE_S * rate)
        self._slip = round(SLIP_S * rate)
        # (start time, PCM16): kept as bytes, turned into samples only when a frame is tested
        # (every bot frame of every call lands here; few inbound frames are tested).
        self._played: deque[tuple[float, bytes]] = deque()
        self._keep_s = max_lag_s + context_s + 0.1
        self._context_bytes = round(context_s * rate) * 2
        self._context = b""  # inbound audio just before the next frame (PCM16)

    def played(self, at: float, pcm: bytes) -> None:
        """`pcm` (PCM16 at `rate`) starts playing at monotonic time `at`."""
        if pcm:
            self._played.append((at, pcm))
            # A silent caller tests nothing: forget here too, or the reference grows all call.
            self._forget(at - self._keep_s - BACKLOG_S)

    def clear(self) -> None:
        self._played.clear()

    def heard(self, frame: bytes) -> None:
        """Every inbound frame, in order, voiced or not: the context of the next test."""
        # Bytes, not samples: this runs on every frame of every call, the test rarely.
        self._context = (self._context + frame)[-self._context_bytes :]

    def is_echo(self, frame: bytes, end_at: float) -> bool:
        """Whether `frame` (PCM16 at `rate`, ending at `end_at`) is the bot's delayed audio.

        Call before `heard(frame)`: the context is the audio that came before it.
        """
        current = np.frombuffer(frame, dtype="<i2").astype(np.float64)
        x = np.frombuffer(self._context + frame, dtype="<i2").astype(np.float64)
        n, m = x.size, current.size
        lag = round(self.max_lag_s * self.rate)
        start_at = end_at - (n + lag) / self.rate
        self._forget(start_at)
        if not self._played or m == 0 or float(np.dot(current, current)) < 1.0:
            return False
        ref = np.zeros(n + lag)
        for at, pcm in self._played:
            offset = round((at - start_at) * self.rate)
            if offset >= ref.size:
                break  # played after this frame was spoken (a backlog is being tested)
            samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
            lo, hi = max(offset, 0), min(offset + samples.size, ref.size)
            if lo < hi:
                ref[lo:hi] = samples[lo - offset : hi - offset]
        # dots[i] = <ref[i:i+n], x> for every lag i, through the FFT (a direct correlation
        # costs ~50 times more at these sizes, on every voiced frame of every call).
        size = 1 << (ref.size + n - 1).bit_length()
        spectrum = np.fft.rfft(ref, size) * np.conj(np.fft.rfft(x, size))
        dots = np.fft.irfft(spectrum, size)[: lag + 1]
        energy = np.concatenate([[0.0], np.cumsum(ref * ref)])
        ref_norm = np.sqrt(np.maximum(energy[n:] - energy[:-n], 0.0))
        # Where the reference is silent the FFT leaves rounding noise, not zeros: no match.
        ncc = np.where(ref_norm >= 1.0, dots / (ref_norm * float(np.sqrt(np.dot(x, x))) + 1e-9), 0)
        best = int(np.argmax(ncc))
        if ncc[best] < self.threshold:
            return False
        delay = lag - best
        known = (
            self._delay is not None
            and abs(delay - self._delay) <= self._delay_tolerance
            and end_at - self._delay_at <= DELAY_MEMORY_S
        )
        if not known and ncc[best] < self.lock_threshold:
            return False
        # The frame itself, near that lag (the playout may have slipped a frame within the
        # window): caller speech starting over the echo breaks the match.
        lo, hi = max(best - self._slip, 0), min(best + self._slip, lag)
        seg = ref[lo + n - m : hi + n]
        seg_energy = np.concatenate([[0.0], np.cumsum(seg * seg)])
        seg_norm = np.sqrt(np.maximum(seg_energy[m:] - seg_energy[:-m], 0.0))
        frame_dots = np.correlate(seg, current, mode="valid")
        frame_ncc = frame_dots / (seg_norm * float(np.sqrt(np.dot(current, current))) + 1e-9)
        near = int(np.argmax(frame_ncc))
        if frame_ncc[near] < self.threshold:
            return False
        self._delay, self._delay_at = lag - (lo + near), end_at
        return True

    def _forget(self, before: float) -> None:
        while self._played:
            at, pcm = self._played[0]
            if at + len(pcm) / 2 / self.rate >= before:
                break
            self._played.popleft()
