"""Echo guard: the bot's own voice coming back on the caller's channel (speakerphone).

The gateway keeps what it played, on the playback timeline. An inbound frame is echo when it
is explained by that reference delayed by 0..`max_lag_s`: the normalised cross-correlation
between the frame and the reference, at the best lag, is above `threshold`. Caller speech
over the echo lowers the correlation (it is not in the reference), so it still counts as
speech. A room or handset filter lowers it too: this catches the common attenuated, delayed
copy, not a full acoustic echo canceller.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float64]


class EchoGuard:
    """Reference of played audio at `rate` (the VAD's), and the echo test of inbound frames."""

    def __init__(self, rate: int, *, max_lag_s: float = 0.3, threshold: float = 0.6) -> None:
        self.rate = rate
        self.max_lag_s = max_lag_s
        self.threshold = threshold
        self._played: deque[tuple[float, Samples]] = deque()

    def played(self, at: float, pcm: bytes) -> None:
        """`pcm` (PCM16 at `rate`) starts playing at monotonic time `at`."""
        if pcm:
            self._played.append((at, np.frombuffer(pcm, dtype="<i2").astype(np.float64)))

    def clear(self) -> None:
        self._played.clear()

    def is_echo(self, frame: bytes, end_at: float) -> bool:
        """Whether `frame` (PCM16 at `rate`, ending at `end_at`) is the bot's delayed audio."""
        x = np.frombuffer(frame, dtype="<i2").astype(np.float64)
        n = x.size
        lag = round(self.max_lag_s * self.rate)
        start_at = end_at - (n + lag) / self.rate
        self._forget(start_at)
        if not self._played or n == 0:
            return False
        ref = np.zeros(n + lag)
        for at, samples in self._played:
            offset = round((at - start_at) * self.rate)
            lo, hi = max(offset, 0), min(offset + samples.size, ref.size)
            if lo < hi:
                ref[lo:hi] = samples[lo - offset : hi - offset]
        x_norm = float(np.sqrt(np.dot(x, x)))
        if x_norm < 1.0:
            return False
        dots = np.correlate(ref, x, mode="valid")  # dots[i] = <ref[i:i+n], x>
        energy = np.concatenate([[0.0], np.cumsum(ref * ref)])
        ref_norm = np.sqrt(np.maximum(energy[n:] - energy[:-n], 0.0))
        ncc = dots / (ref_norm * x_norm + 1e-9)
        return bool(ncc.max() >= self.threshold)

    def _forget(self, before: float) -> None:
        while self._played:
            at, samples = self._played[0]
            if at + samples.size / self.rate >= before:
                break
            self._played.popleft()
