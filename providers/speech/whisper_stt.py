"""faster-whisper (CTranslate2) speech-to-text on CPU, one utterance at a time."""

from __future__ import annotations

import asyncio
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from providers.speech.base import Transcript

# Model files come from our cache only; never let huggingface_hub reach for the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# faster-whisper ships no type information.
from faster_whisper import WhisperModel  # type: ignore[import-untyped]  # noqa: E402

SAMPLE_RATE = 16000
# No word fits in a shorter clip, and Whisper would invent one ("Thank you.").
_MIN_SECONDS = 0.1


class WhisperStt:
    """``SpeechToText`` with faster-whisper; transcriptions run one at a time off the loop."""

    sample_rate = SAMPLE_RATE

    def __init__(
        self, model_dir: Path | str, *, compute_type: str = "int8", cpu_threads: int = 2
    ) -> None:
        self._model = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            num_workers=1,
            local_files_only=True,
        )
        self._languages = frozenset(self._model.supported_languages)
        # One worker: with 2 cores, parallel decodes only slow each other down, and a private
        # executor keeps queued utterances from tying up the loop's default thread pool.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="whisper")
        self._lock = threading.Lock()

    async def transcribe(self, pcm: bytes, *, language: str) -> Transcript:
        """Transcribe one utterance (PCM16LE mono, 16 kHz) in ``language`` ("en-US")."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.transcribe_sync, pcm, language)

    def transcribe_sync(self, pcm: bytes, language: str) -> Transcript:
        """Blocking ``transcribe`` (for scripts and benchmarks)."""
        if len(pcm) % 2:
            raise ValueError("PCM16 data must have an even number of bytes")
        code = language.split("-")[0].split("_")[0].lower()
        if code not in self._languages:
            raise ValueError(f"language {language!r} is not supported by this whisper model")
        duration = len(pcm) / 2 / SAMPLE_RATE
        if duration < _MIN_SECONDS:
            return Transcript(text="", language=language, duration_s=duration)
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        with self._lock:
            segments, _info = self._model.transcribe(
                audio,
                language=code,
                beam_size=1,
                # Greedy only, no temperature fallback: bounds the latency of a bad clip.
                temperature=0.0,
                vad_filter=False,
                condition_on_previous_text=False,
                without_timestamps=True,
            )
            # Segments are produced lazily: decode them while holding the lock.
            decoded = [(s.text.strip(), s.avg_logprob, len(s.tokens)) for s in segments]
        text = " ".join(t for t, _, _ in decoded if t)
        tokens = sum(n for _, _, n in decoded)
        confidence = None
        if tokens:
            # Token-weighted mean log-probability, as a per-token probability.
            mean_logprob = sum(lp * n for _, lp, n in decoded) / tokens
            confidence = min(1.0, math.exp(mean_logprob))
        return Transcript(text=text, language=language, duration_s=duration, confidence=confidence)

    def close(self) -> None:
        """Stop the worker thread (pending transcriptions finish first)."""
        self._executor.shutdown(wait=True)
