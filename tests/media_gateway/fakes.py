"""Deterministic engines, a recording workflow client and a simulated phone for the session.

They test the pipeline logic (timing, turn taking, barge-in), not speech: the VAD is frame
energy, the STT returns scripted text per utterance, the TTS is a tone as long as the words.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import numpy as np

from domain.contracts import BargeIn, UserTurn
from media_gateway.control import CallView
from media_gateway.engines import Transcript, rms


class EnergyVad:
    """Speech probability from the frame's RMS level: 0.05 of full scale and above is speech."""

    def __init__(self, sample_rate: int = 16_000, frame_samples: int = 320) -> None:
        self.sample_rate = sample_rate
        self.frame_samples = frame_samples

    def probability(self, frame: bytes) -> float:
        return min(1.0, rms(frame) / 0.05)

    def reset(self) -> None:
        pass


class ScriptedStt:
    """Returns the next scripted text for each utterance (empty once the script is used up)."""

    def __init__(self, texts: list[str], sample_rate: int = 16_000) -> None:
        self.sample_rate = sample_rate
        self.texts = list(texts)
        self.durations: list[float] = []

    async def transcribe(self, pcm: bytes, *, language: str) -> Transcript:
        duration = len(pcm) / 2 / self.sample_rate
        self.durations.append(duration)
        text = self.texts.pop(0) if self.texts else ""
        return Transcript(text=text, language=language, duration_s=duration)


class ToneTts:
    """A 440 Hz tone of `word_s / rate` seconds per word, in 100 ms chunks."""

    def __init__(self, sample_rate: int = 22_050, word_s: float = 0.2, level: float = 0.3) -> None:
        self.sample_rate = sample_rate
        self.word_s = word_s
        self.level = level
        self.voices: list[str | None] = []

    async def synthesize(
        self, text: str, *, voice: str | None = None, rate: float = 1.0
    ) -> AsyncIterator[bytes]:
        self.voices.append(voice)
        n = round(len(text.split()) * self.word_s / rate * self.sample_rate)
        t = np.arange(n) / self.sample_rate
        pcm = (np.sin(2 * math.pi * 440 * t) * self.level * 32767).astype("<i2").tobytes()
        step = self.sample_rate // 10 * 2
        for i in range(0, len(pcm), step):
            await asyncio.sleep(0)
            yield pcm[i : i + step]


@dataclass
class RecordingControl:
    """The workflow side: records `user_turn` updates and `barge_in` signals with their time."""

    last_turn_id: int = 0
    lang: str = "en-US"
    turns: list[tuple[float, UserTurn]] = field(default_factory=list)
    barge_ins: list[tuple[float, BargeIn]] = field(default_factory=list)
    silences: list[float] = field(default_factory=list)

    async def view(self) -> CallView:
        return CallView(last_turn_id=self.last_turn_id, lang=self.lang)

    async def user_turn(self, turn: UserTurn) -> None:
        self.turns.append((time.monotonic(), turn))
        self.last_turn_id = turn.turn_id or self.last_turn_id + 1

    async def barge_in(self, event: BargeIn) -> None:
        self.barge_ins.append((time.monotonic(), event))

    async def caller_silent(self) -> None:
        self.silences.append(time.monotonic())


def noise(seconds: float, rate: int, level: float = 0.2, seed: int = 1) -> bytes:
    """Caller "speech" for the energy VAD: white noise at `level` RMS."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, level * 32767, round(seconds * rate))
    return np.clip(x, -32768, 32767).astype("<i2").tobytes()


@dataclass
class Phone:
    """ACS plus the caller's phone, in real time.

    Bot frames the gateway sends are queued and played 20 ms per tick (`StopAudio` drops the
    queue); each tick the caller's frame goes to the session, plus, on a speakerphone, the
    bot's audio played `echo_delay_s` earlier at `echo_gain`.
    """

    rate: int
    echo_gain: float = 0.0
    echo_delay_s: float = 0.12
    sent: list[tuple[float, dict[str, object]]] = field(default_factory=list)
    queue: list[bytes] = field(default_factory=list)
    played: list[bytes] = field(default_factory=list)
    speech_onsets: list[float] = field(default_factory=list)

    @property
    def frame_bytes(self) -> int:
        return self.rate // 50 * 2

    async def receive(self, text: str) -> None:
        message = json.loads(text)
        self.sent.append((time.monotonic(), message))
        if message["kind"] == "StopAudio":
            self.queue.clear()
        else:
            self.queue.append(base64.b64decode(message["audioData"]["data"]))

    def audio_frames(self) -> list[tuple[float, bytes]]:
        return [
            (at, base64.b64decode(m["audioData"]["data"]))  # type: ignore[index]
            for at, m in self.sent
            if m["kind"] == "AudioData"
        ]

    def stops(self) -> list[float]:
        return [at for at, m in self.sent if m["kind"] == "StopAudio"]

    async def run(
        self, feed: Callable[[bytes], object], caller: bytes, *, tail_s: float = 0.0
    ) -> None:
        """Send `caller` (PCM at `rate`) then `tail_s` of silence, one frame per 20 ms."""
        size = self.frame_bytes
        total = len(caller) // size + round(tail_s * 50)
        delay = round(self.echo_delay_s * 50)
        start = time.monotonic()
        was_speech = False
        for k in range(total):
            wait = start + k * 0.02 - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self.played.append(self.queue.pop(0) if self.queue else bytes(size))
            frame = caller[k * size : (k + 1) * size] or bytes(size)
            speech = any(frame)
            if speech and not was_speech:
                self.speech_onsets.append(time.monotonic())
            was_speech = speech
            if self.echo_gain and len(self.played) > delay:
                frame = _mix(frame, self.played[-1 - delay], self.echo_gain)
            result = feed(frame)
            if asyncio.iscoroutine(result):
                await result


def _mix(frame: bytes, echo: bytes, gain: float) -> bytes:
    a = np.frombuffer(frame, dtype="<i2").astype(np.float64)
    b = np.frombuffer(echo, dtype="<i2").astype(np.float64) * gain
    return np.clip(a + b, -32768, 32767).astype("<i2").tobytes()


def timeline(rate: int, *segments: tuple[str, float]) -> bytes:
    """Caller audio from ("speech" | "silence", seconds) segments."""
    out = b""
    for i, (kind, seconds) in enumerate(segments):
        silence = bytes(round(seconds * rate) * 2)
        out += noise(seconds, rate, seed=i) if kind == "speech" else silence
    return out
