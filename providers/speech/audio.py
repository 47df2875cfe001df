"""PCM16LE mono helpers: resampling, levels, framing and WAV files.

Resampling is rational polyphase filtering (what ``scipy.signal.resample_poly`` does), in numpy:
the signal is conceptually upsampled by ``up``, low-pass filtered by a Kaiser-windowed sinc and
decimated by ``down``, computing only the outputs that are kept. The filter has 32 zero
crossings per side, a cut-off at 0.92 of the lower Nyquist frequency and Kaiser beta 8.0, so
the pass band is flat to ~0.85 Nyquist (6.8 kHz at 16 kHz) and images and aliases are
attenuated by ~80 dB. The filter is zero-phase: output sample n is input time n * from / to,
and n input samples give ceil(n * to / from) output samples.
"""

from __future__ import annotations

import io
import math
import wave
from functools import lru_cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

_ZERO_CROSSINGS = 32
_ROLLOFF = 0.92
_KAISER_BETA = 8.0
# Outputs computed per vectorised step: bounds the gathered (outputs x taps) matrix.
_BLOCK = 4096
# The filter has 64 taps per unit of max(up, down) (8 bytes each): real rate pairs need a few
# hundred (22050 -> 16000 is 320/441), an odd rate such as 999983 Hz needs ~10^6 (~500 MB and
# seconds of work). Capped, with a few filters cached, resampling holds at most ~16 MB.
MAX_RATIO_TERM = 4096
_CACHED_FILTERS = 8

FloatArray = npt.NDArray[np.float64]


@lru_cache(maxsize=_CACHED_FILTERS)
def _polyphase_filter(up: int, down: int) -> tuple[FloatArray, int]:
    """The filter split into ``up`` phases (rows) and its half length."""
    factor = max(up, down)
    half = _ZERO_CROSSINGS * factor
    n = np.arange(-half, half + 1, dtype=np.float64)
    cutoff = _ROLLOFF / factor  # relative to the Nyquist frequency of the upsampled rate
    taps = cutoff * np.sinc(cutoff * n) * np.kaiser(2 * half + 1, _KAISER_BETA) * up
    per_phase = -(-taps.size // up)
    padded = np.zeros(per_phase * up)
    padded[: taps.size] = taps
    # Row p holds taps p, p + up, p + 2 up, ...: the only ones that meet real (non-zero)
    # samples of the upsampled signal when the output falls on phase p.
    return padded.reshape(per_phase, up).T.copy(), half


class Resampler:
    """Streaming resampler: feed chunks in order, then ``flush`` at the end of the stream.

    Chunk boundaries leave no clicks because the filter history carries over; the output lags
    the input by the filter's half length (about 2 ms).
    """

    def __init__(self, from_rate: int, to_rate: int) -> None:
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError("sample rates must be positive")
        g = math.gcd(from_rate, to_rate)
        if max(from_rate, to_rate) // g > MAX_RATIO_TERM:
            raise ValueError(f"no resampling from {from_rate} Hz to {to_rate} Hz (ratio too fine)")
        self.from_rate = from_rate
        self.to_rate = to_rate
        self._up = to_rate // g
        self._down = from_rate // g
        self._phases, self._half = _polyphase_filter(self._up, self._down)
        self._taps = self._phases.shape[1]
        self.reset()

    def reset(self) -> None:
        """Start a new stream."""
        # The buffer starts with zeros standing for the samples before the stream began.
        self._buf = np.zeros(self._taps, dtype=np.float64)
        self._buf_start = -self._taps
        self._received = 0
        self._emitted = 0

    def process(self, pcm: bytes) -> bytes:
        """Resample the next chunk; returns what can be computed so far."""
        if self._up == self._down:
            return pcm
        samples = _samples(pcm).astype(np.float64)
        self._buf = np.concatenate([self._buf, samples])
        self._received += samples.size
        # Output n needs inputs up to floor((n * down + half) / up).
        last = (self._received * self._up - 1 - self._half) // self._down
        return self._emit(last + 1)

    def flush(self) -> bytes:
        """Finish the stream: emit the tail (the signal is padded with zeros) and reset."""
        if self._up == self._down:
            return b""
        total = -(-self._received * self._up // self._down)
        self._buf = np.concatenate([self._buf, np.zeros(self._taps + 1)])
        out = self._emit(total)
        self.reset()
        return out

    def _emit(self, end: int) -> bytes:
        chunks: list[FloatArray] = []
        k = np.arange(self._taps)
        for start in range(self._emitted, end, _BLOCK):
            n = np.arange(start, min(end, start + _BLOCK), dtype=np.int64)
            pos = n * self._down + self._half
            base = pos // self._up - self._buf_start
            gathered = self._buf[base[:, None] - k[None, :]]
            chunks.append(np.einsum("ij,ij->i", gathered, self._phases[pos % self._up]))
        if end > self._emitted:
            self._emitted = end
        # Keep only the history the next output still needs.
        first_needed = (self._emitted * self._down + self._half) // self._up - self._taps + 1
        drop = first_needed - self._buf_start
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start += drop
        if not chunks:
            return b""
        return _to_pcm(np.concatenate(chunks))


def resample(pcm: bytes, from_rate: int, to_rate: int) -> bytes:
    """Resample a whole PCM16LE mono clip (polyphase, anti-aliased; see the module doc)."""
    if from_rate == to_rate:
        return pcm
    resampler = Resampler(from_rate, to_rate)
    return resampler.process(pcm) + resampler.flush()


def rms(pcm: bytes) -> float:
    """Root mean square level relative to full scale (0.0 silence .. 1.0 full-scale square)."""
    samples = _samples(pcm)
    if samples.size == 0:
        return 0.0
    x = samples.astype(np.float64) / 32768.0
    return float(np.sqrt(np.mean(x * x)))


def frames(pcm: bytes, frame_bytes: int, *, pad: bool = False) -> list[bytes]:
    """Split into frames of ``frame_bytes``; a short tail is dropped, or zero-padded if ``pad``."""
    if frame_bytes <= 0:
        raise ValueError("frame_bytes must be positive")
    out = [pcm[i : i + frame_bytes] for i in range(0, len(pcm), frame_bytes)]
    if out and len(out[-1]) < frame_bytes:
        if pad:
            out[-1] = out[-1] + bytes(frame_bytes - len(out[-1]))
        else:
            out.pop()
    return out


def wav_bytes(pcm: bytes, rate: int) -> bytes:
    """A complete WAV file (PCM16 mono) holding ``pcm``."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def read_wav(path: str | Path) -> tuple[bytes, int]:
    """Read a 16-bit PCM WAV file as (PCM16LE mono, rate); stereo is averaged to mono."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is supported")
        channels = w.getnchannels()
        rate = w.getframerate()
        data = w.readframes(w.getnframes())
    if channels == 1:
        return data, rate
    stereo = _samples(data).reshape(-1, channels).astype(np.int32)
    return stereo.mean(axis=1).round().astype("<i2").tobytes(), rate


def _samples(pcm: bytes) -> npt.NDArray[np.int16]:
    if len(pcm) % 2:
        raise ValueError("PCM16 data must have an even number of bytes")
    return np.frombuffer(pcm, dtype="<i2")


def _to_pcm(x: FloatArray) -> bytes:
    return np.clip(np.rint(x), -32768, 32767).astype("<i2").tobytes()
