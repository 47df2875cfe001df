"""Silero VAD v6 (the ONNX file shipped in faster-whisper) as a streaming ``Vad``.

Each 512-sample frame at 16 kHz is scored with the previous frame's last 64 samples prepended
as context and the LSTM state carried over, which is how Silero runs in streaming mode. One
``SileroVad`` per call; the ONNX session itself is shared (``run`` is thread-safe).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# onnxruntime ships no type information.
import onnxruntime as ort  # type: ignore[import-untyped]

from providers.speech import models

SAMPLE_RATE = 16000
FRAME_SAMPLES = 512
_CONTEXT = 64
_STATE_SHAPE = (1, 1, 128)


def load_session(path: Path | None = None) -> Any:
    """An ONNX session for the Silero model on one thread (a frame is ~0.1 ms of work)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    model = path or models.silero_vad_path()
    return ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])


class SileroVad:
    """Speech probability per 32 ms frame of 16 kHz PCM16LE audio, state kept across frames."""

    sample_rate = SAMPLE_RATE
    frame_samples = FRAME_SAMPLES

    def __init__(self, session: Any | None = None) -> None:
        self._session = session if session is not None else load_session()
        self.reset()

    def reset(self) -> None:
        """Start a new stream."""
        self._h = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._input = np.zeros((1, _CONTEXT + FRAME_SAMPLES), dtype=np.float32)

    def probability(self, frame: bytes) -> float:
        """Speech probability of the next frame (exactly 512 samples = 1024 bytes)."""
        if len(frame) != 2 * FRAME_SAMPLES:
            raise ValueError(f"VAD frame must be {2 * FRAME_SAMPLES} bytes, got {len(frame)}")
        # Slide the last 64 samples of the previous frame in as context.
        self._input[0, :_CONTEXT] = self._input[0, -_CONTEXT:]
        self._input[0, _CONTEXT:] = np.frombuffer(frame, dtype="<i2") / np.float32(32768.0)
        prob, self._h, self._c = self._session.run(
            None, {"input": self._input, "h": self._h, "c": self._c}
        )
        return float(np.asarray(prob).reshape(-1)[0])


def silero_factory(path: Path | None = None) -> Callable[[], SileroVad]:
    """A factory of per-call ``SileroVad`` instances sharing one loaded model."""
    session = load_session(path)

    def make() -> SileroVad:
        return SileroVad(session)

    return make
