"""faster-whisper (CTranslate2) speech-to-text on CPU, one utterance at a time.

Whisper was trained on 30 s windows and faster-whisper pads every clip to one: the encoder
then costs ~0.7 s on two cores, whatever the utterance. A caller's turn is a few seconds, so
by default the encoder gets a shorter window (`window_s`, 10 s: ~0.1 s of encoder) through
CTranslate2 directly. With 5 s or less, Whisper looped on short clips ("No. No. No."); with
10 s, 20 sentences spoken twice by Piper measured a word error rate of 0.111 against 0.101 with
the full window (see the README). Utterances that do not fit take faster-whisper's full path.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt

from providers.speech.base import Transcript

# Model files come from our cache only; never let huggingface_hub reach for the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# faster-whisper ships no type information.
import ctranslate2  # type: ignore[import-untyped]  # noqa: E402
from faster_whisper import WhisperModel  # type: ignore[import-untyped]  # noqa: E402
from faster_whisper.tokenizer import Tokenizer  # type: ignore[import-untyped]  # noqa: E402

SAMPLE_RATE = 16000
# No word fits in a shorter clip, and Whisper would invent one ("Thank you.").
_MIN_SECONDS = 0.1
FULL_WINDOW_S = 30.0  # Whisper's own window
# After the audio, at least this much padding in the window: the model expects to see the end.
_WINDOW_MARGIN_S = 1.0
_FRAMES_PER_S = 100  # log-mel frames (10 ms hop)
# Tokens a second of speech can need (digits are short tokens), and a floor: bounds the
# decoding of a clip the model loops on.
_TOKENS_PER_S = 12
_MIN_TOKENS = 24
# faster-whisper's defaults: "no speech" when both hold (a clip of noise or breath).
_NO_SPEECH_PROB = 0.6
_NO_SPEECH_LOGPROB = -1.0


class WhisperStt:
    """``SpeechToText`` with faster-whisper; transcriptions run one at a time off the loop."""

    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        model_dir: Path | str,
        *,
        compute_type: str = "int8",
        cpu_threads: int = 2,
        window_s: float = 10.0,
    ) -> None:
        """`window_s`: the encoder's window for short utterances (30: Whisper's full one)."""
        if not 1.0 <= window_s <= FULL_WINDOW_S:
            raise ValueError(f"window_s must be within 1..{FULL_WINDOW_S:g} s, not {window_s}")
        self.window_s = window_s
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
        self._tokenizers: dict[str, Tokenizer] = {}

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
        if self.window_s < FULL_WINDOW_S and duration + _WINDOW_MARGIN_S <= FULL_WINDOW_S:
            with self._lock:
                text, confidence = self._short_window(audio, code, duration)
            return Transcript(
                text=text, language=language, duration_s=duration, confidence=confidence
            )
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

    def _short_window(
        self, audio: npt.NDArray[np.float32], code: str, duration: float
    ) -> tuple[str, float | None]:
        """One greedy decode with the encoder on `window_s` (or just enough more)."""
        features = self._model.feature_extractor(audio)  # (n_mels, frames)
        frames = features.shape[-1]
        needed = math.ceil(duration + _WINDOW_MARGIN_S) * _FRAMES_PER_S
        window = min(max(round(self.window_s * _FRAMES_PER_S), needed), 3000)
        padded = np.zeros((1, features.shape[0], window), dtype=np.float32)
        padded[0, :, : min(frames, window)] = features[:, :window]
        tokenizer = self._tokenizer(code)
        result = self._model.model.generate(
            ctranslate2.StorageView.from_array(padded),
            [[*tokenizer.sot_sequence, tokenizer.no_timestamps]],
            beam_size=1,
            max_length=max(_MIN_TOKENS, math.ceil(duration * _TOKENS_PER_S)),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
        )[0]
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        if not tokens:
            return "", None
        mean_logprob = float(result.scores[0])  # log-probability per token (length penalty 1)
        if result.no_speech_prob > _NO_SPEECH_PROB and mean_logprob < _NO_SPEECH_LOGPROB:
            return "", None
        text: str = tokenizer.decode(tokens).strip()
        return text, min(1.0, math.exp(mean_logprob))

    def _tokenizer(self, code: str) -> Tokenizer:
        tokenizer = self._tokenizers.get(code)
        if tokenizer is None:
            model = self._model
            tokenizer = Tokenizer(
                model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=code
            )
            self._tokenizers[code] = tokenizer
        return tokenizer

    def close(self) -> None:
        """Stop the worker thread (pending transcriptions finish first)."""
        self._executor.shutdown(wait=True)
