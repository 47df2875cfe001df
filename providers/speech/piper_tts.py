"""Piper text-to-speech (ONNX VITS voices), streamed sentence by sentence."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path

# onnxruntime ships no type information.
import onnxruntime as ort  # type: ignore[import-untyped]
from piper import AudioChunk, PiperVoice, SynthesisConfig
from piper.config import PiperConfig

log = logging.getLogger(__name__)

MIN_RATE = 0.5
MAX_RATE = 2.0
# Piper scales every sentence to full scale; keep headroom for resampling overshoot and for
# the telephony codec.
_VOLUME = 0.8


class PiperTts:
    """``TextToSpeech`` with a Piper voice at its native rate (22050 Hz for medium voices)."""

    def __init__(
        self,
        onnx: Path | str,
        config: Path | str,
        *,
        threads: int = 0,
        noise_scale: float | None = None,
        noise_w_scale: float | None = None,
    ) -> None:
        """Load the voice; ``threads`` caps onnxruntime's intra-op threads (0: its default).

        VITS samples noise for the voice's timbre and its phoneme durations, so each rendering
        of a text differs a little; ``noise_scale`` and ``noise_w_scale`` (None: the voice's
        own) at 0 render the same audio every time, as a test's caller needs.
        """
        self._noise_scale = noise_scale
        self._noise_w_scale = noise_w_scale
        with open(config, encoding="utf-8") as f:
            piper_config = PiperConfig.from_dict(json.load(f))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        session = ort.InferenceSession(
            str(onnx), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        self._voice = PiperVoice(session=session, config=piper_config)
        self.sample_rate: int = piper_config.sample_rate
        self.name = Path(onnx).name.removesuffix(".onnx")

    async def synthesize(
        self, text: str, *, voice: str | None = None, rate: float = 1.0
    ) -> AsyncGenerator[bytes, None]:
        """Yield one PCM16LE chunk per sentence as soon as it is rendered.

        ``voice`` picks a speaker of a multi-speaker model; any other name (e.g. a cloud
        voice name from the bot's settings) falls back to this voice. ``rate`` is clamped to
        0.5..2.0. Stopping the iteration early skips the remaining sentences.
        """
        if not text.strip():
            return
        rate = min(MAX_RATE, max(MIN_RATE, rate))
        syn = SynthesisConfig(
            speaker_id=self._speaker(voice),
            length_scale=1.0 / rate,
            noise_scale=self._noise_scale,
            noise_w_scale=self._noise_w_scale,
            volume=_VOLUME,
        )
        # Piper phonemizes the text, then renders one sentence per step of its generator;
        # each step runs in a worker thread (piper serialises its espeak calls itself and an
        # ONNX session may run concurrently), one thread hop per sentence.
        chunks: Iterator[AudioChunk] = iter(self._voice.synthesize(text, syn_config=syn))
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            pcm = chunk.audio_int16_bytes
            if pcm:
                yield pcm

    def _speaker(self, voice: str | None) -> int | None:
        if voice is None or voice == self.name:
            return None
        speaker = self._voice.config.speaker_id_map.get(voice)
        if speaker is None:
            log.debug("piper voice %s has no speaker %r; using its default", self.name, voice)
        return speaker
