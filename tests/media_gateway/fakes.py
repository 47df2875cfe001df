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
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import numpy as np
from redis.asyncio import Redis

from domain.contracts import BargeIn, UserTurn
from media_gateway.control import CallView
from media_gateway.engines import Engines, Transcript, rms
from media_gateway.session import CallSession, SessionConfig


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
    """Returns the next scripted text for each utterance (empty once the script is used up),
    after `delay_s` (a slow recogniser); `None` in the script: the audio's length, "1.2 s"."""

    def __init__(
        self, texts: list[str | None], sample_rate: int = 16_000, *, delay_s: float = 0.0
    ) -> None:
        self.sample_rate = sample_rate
        self.texts = list(texts)
        self.delay_s = delay_s
        self.durations: list[float] = []  # of the transcriptions that finished
        self.started: list[float] = []  # monotonic time of every call, cancelled ones too

    async def transcribe(self, pcm: bytes, *, language: str) -> Transcript:
        self.started.append(time.monotonic())
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        duration = len(pcm) / 2 / self.sample_rate
        self.durations.append(duration)
        text = self.texts.pop(0) if self.texts else ""
        if text is None:
            text = f"{duration:.1f} s"
        return Transcript(text=text, language=language, duration_s=duration)


class ScriptedStream:
    """One live recognition: its scripted text revealed a word per `word_s` of audio pushed,
    after `lag_s` (a recogniser's delay); `final` answers at once. `fail_after_s`: pushing
    more audio than that raises, as a stream whose connection dropped."""

    def __init__(
        self,
        text: str,
        language: str,
        sample_rate: int,
        *,
        word_s: float,
        lag_s: float,
        fail_after_s: float | None = None,
    ) -> None:
        self.text = text
        self.language = language
        self.sample_rate = sample_rate
        self.word_s = word_s
        self.lag_s = lag_s
        self.fail_after_s = fail_after_s
        self.pushed_s = 0.0
        self.shown = 0
        self.closed = False
        self.finalised = False
        self._partials: asyncio.Queue[str | None] = asyncio.Queue()

    def push(self, pcm: bytes) -> None:
        if self.closed or self.finalised:
            raise RuntimeError("push after the end of the stream")
        self.pushed_s += len(pcm) / 2 / self.sample_rate
        if self.fail_after_s is not None and self.pushed_s > self.fail_after_s:
            raise ConnectionError("the recognition service went away")
        words = self.text.split()
        shown = min(len(words), max(0, int((self.pushed_s - self.lag_s) / self.word_s) + 1))
        if self.pushed_s >= self.lag_s and shown > self.shown:
            self.shown = shown
            self._partials.put_nowait(" ".join(words[:shown]))

    async def partials(self) -> AsyncIterator[str]:
        while (text := await self._partials.get()) is not None:
            yield text

    async def final(self) -> Transcript:
        self.finalised = True
        self._partials.put_nowait(None)
        return Transcript(text=self.text, language=self.language, duration_s=self.pushed_s)

    def close(self) -> None:
        self.closed = True
        self._partials.put_nowait(None)


class StreamingStt(ScriptedStt):
    """A streaming recogniser: one `ScriptedStream` per utterance, the next scripted text;
    whole-utterance `transcribe` (the fallback) uses the `fallback` texts."""

    def __init__(
        self,
        texts: list[str],
        *,
        fallback: list[str] | None = None,
        word_s: float = 0.15,
        lag_s: float = 0.35,
        fail_after_s: float | None = None,
    ) -> None:
        super().__init__(fallback or [])
        self.stream_texts = list(texts)
        self.word_s = word_s
        self.lag_s = lag_s
        self.fail_after_s = fail_after_s
        self.streams: list[ScriptedStream] = []

    def stream(self, language: str) -> ScriptedStream:
        text = self.stream_texts.pop(0) if self.stream_texts else ""
        stream = ScriptedStream(
            text,
            language,
            self.sample_rate,
            word_s=self.word_s,
            lag_s=self.lag_s,
            fail_after_s=self.fail_after_s,
        )
        self.streams.append(stream)
        return stream


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

    async def user_turn(self, turn: UserTurn, accepted: Callable[[], None] | None = None) -> None:
        self.turns.append((time.monotonic(), turn))
        if accepted is not None:
            accepted()
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
    bot's audio played `echo_delay_s` earlier at `echo_gain`. Playout keeps real time as ACS
    does: when this loop runs late (a starved test process) and catches up, a tick plays only
    a frame that had arrived by its time. The phone keeps playing between `run`s (while a test
    waits): those ticks send no caller audio, but the echo stays `echo_delay_s` late in time.
    """

    rate: int
    echo_gain: float = 0.0
    echo_delay_s: float = 0.12
    sent: list[tuple[float, dict[str, object]]] = field(default_factory=list)
    queue: list[tuple[float, bytes]] = field(default_factory=list)  # (arrival, PCM)
    played: list[bytes] = field(default_factory=list)
    speech_onsets: list[float] = field(default_factory=list)
    _t0: float | None = None  # the playout clock's start (the first `run`)
    _ticks: int = 0  # 20 ms ticks played since `_t0`

    @property
    def frame_bytes(self) -> int:
        return self.rate // 50 * 2

    async def receive(self, text: str) -> None:
        message = json.loads(text)
        self.sent.append((time.monotonic(), message))
        if message["kind"] == "StopAudio":
            self.queue.clear()
        else:
            self.queue.append((time.monotonic(), base64.b64decode(message["audioData"]["data"])))

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
        if self._t0 is None:
            self._t0 = time.monotonic()
        idle = int((time.monotonic() - self._t0) / 0.02) - self._ticks
        for _ in range(idle):  # played while no `run` was sending
            self._play_tick()
        was_speech = False
        for k in range(total):
            wait = self._t0 + self._ticks * 0.02 - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._play_tick()
            frame = caller[k * size : (k + 1) * size]
            frame += bytes(size - len(frame))  # the last frame of a clip is padded
            speech = any(frame)  # exact digital silence between clips
            if speech and not was_speech:
                self.speech_onsets.append(time.monotonic())
            was_speech = speech
            if self.echo_gain and len(self.played) > delay:
                frame = _mix(frame, self.played[-1 - delay], self.echo_gain)
            result = feed(frame)
            if asyncio.iscoroutine(result):
                await result

    def _play_tick(self) -> None:
        """The next 20 ms of playout: the queued frame, if it had arrived by the tick's end."""
        assert self._t0 is not None
        self._ticks += 1
        due = self._t0 + self._ticks * 0.02
        ready = self.queue and self.queue[0][0] <= due
        self.played.append(self.queue.pop(0)[1] if ready else bytes(self.frame_bytes))


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


@asynccontextmanager
async def start_session(
    redis: Redis,
    phone: Phone,
    control: RecordingControl,
    engines: Engines,
    config: SessionConfig | None = None,
) -> AsyncIterator[CallSession]:
    """A started `CallSession` of a new call, its audio going to `phone`; closed on exit."""
    session = CallSession(
        f"call-{uuid.uuid4()}",
        control=control,
        engines=engines,
        redis=redis,
        send=phone.receive,
        sample_rate=phone.rate,
        config=config,
    )
    await session.start()
    try:
        yield session
    finally:
        await session.close()
