"""From inbound audio to utterances: resample, echo gate, VAD, and the turn detector.

Timings count audio, not wall time: ACS streams in real time, and counting samples keeps the
detector deterministic and immune to frame bursts.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from media_gateway.echo import EchoGuard
from media_gateway.engines import Resampler, Vad


@dataclass(frozen=True)
class SpeechStarted:
    """Speech went on for `start_ms`; `onset_at` is the monotonic time of its first frame."""

    onset_at: float


@dataclass(frozen=True)
class SpeechPaused:
    """The caller went quiet for the pre-roll's length: `pcm` is the utterance as `SpeechEnded`
    will hand it over if the silence lasts (transcribing it now hides the STT in the wait)."""

    pcm: bytes


@dataclass(frozen=True)
class SpeechEnded:
    """An utterance, silence timeout reached: its audio (with pre-roll) at the VAD rate."""

    pcm: bytes
    speech_s: float  # from onset to the last voiced frame
    ended_at: float  # monotonic time of the last voiced frame
    voice_s: float = 0.0  # voiced frames only (the echo guard's not counted)


# Frames before the first voiced one that may date the onset back (see `TurnDetector.push`).
MAX_BACKDATE_FRAMES = 2
# Below the speech threshold by less than this: a frame where speech is rising (Silero's own
# streaming iterator ends speech at threshold - 0.15, the same margin).
RISING_MARGIN = 0.15


class TurnDetector:
    """Voiced/unvoiced frames in, speech start and utterance end out."""

    def __init__(
        self,
        frame_s: float,
        *,
        start_ms: float = 60,
        silence_ms: float = 500,
        pre_roll_ms: float = 200,
    ) -> None:
        self.frame_s = frame_s
        self.start_frames = max(1, round(start_ms / 1000 / frame_s))
        self.silence_frames = max(1, round(silence_ms / 1000 / frame_s))
        self._pre_roll_frames = max(0, round(pre_roll_ms / 1000 / frame_s))
        self._recent: deque[bytes] = deque(maxlen=self.start_frames + self._pre_roll_frames)
        self._utterance: list[bytes] = []
        self._voiced_run = 0
        self._silent_run = 0
        self._onset_at = 0.0
        self._last_voiced_at = 0.0
        self._rising_run = 0
        self._voiced_frames = 0
        self.in_speech = False
        # Every frame of an utterance as it comes (pre-roll first): a streaming recogniser.
        self.on_frame: Callable[[bytes], None] | None = None

    def set_silence_ms(self, silence_ms: float) -> None:
        self.silence_frames = max(1, round(silence_ms / 1000 / self.frame_s))

    @property
    def voiced_s(self) -> float:
        """From the onset of the current speech to its last voiced frame (0 when none)."""
        return self._last_voiced_at - self._onset_at if self.in_speech else 0.0

    @property
    def voice_s(self) -> float:
        """How much of the current speech was voiced frames, pauses not counted."""
        return self._voiced_frames * self.frame_s if self.in_speech else 0.0

    def span_at(self, now: float) -> float:
        """From the onset of the current speech to `now`, pauses included (0 when none)."""
        return now - self._onset_at if self.in_speech else 0.0

    def push(
        self, frame: bytes, voiced: bool, end_at: float, *, rising: bool = False
    ) -> SpeechStarted | SpeechPaused | SpeechEnded | None:
        """One VAD frame ending at monotonic `end_at`; `rising`: unvoiced, but close to it."""
        start_at = end_at - self.frame_s
        if not self.in_speech:
            self._recent.append(frame)
            if not voiced:
                self._voiced_run = 0
                self._rising_run = self._rising_run + 1 if rising else 0
                return None
            self._voiced_run += 1
            if self._voiced_run == 1:
                # A word's first frame is often only partly voice: the frames just before
                # that scored close to the threshold are where it began.
                backdate = min(self._rising_run, MAX_BACKDATE_FRAMES)
                self._onset_at = start_at - backdate * self.frame_s
                self._rising_run = 0
            if self._voiced_run < self.start_frames:
                return None
            self.in_speech = True
            self._voiced_frames = self._voiced_run
            self._utterance = list(self._recent)
            self._recent.clear()
            if self.on_frame is not None:
                for earlier in self._utterance:
                    self.on_frame(earlier)
            self._silent_run = 0
            self._last_voiced_at = end_at
            return SpeechStarted(self._onset_at)
        self._utterance.append(frame)
        if self.on_frame is not None:
            self.on_frame(frame)
        if voiced:
            self._silent_run = 0
            self._voiced_frames += 1
            self._last_voiced_at = end_at
            return None
        self._silent_run += 1
        if self._silent_run < self.silence_frames:
            if self._silent_run == self._pre_roll_frames:
                # The utterance with as much trailing silence as it ends with.
                return SpeechPaused(b"".join(self._utterance))
            return None
        # Keep ~200 ms of the trailing silence: enough for STT, less to transcribe.
        keep = len(self._utterance) - self._silent_run + self._pre_roll_frames
        pcm = b"".join(self._utterance[: max(keep, 1)])
        ended = SpeechEnded(
            pcm, self._last_voiced_at - self._onset_at, self._last_voiced_at, self.voice_s
        )
        self.in_speech = False
        self._utterance = []
        self._voiced_run = 0
        return ended


class Listener:
    """Call-rate PCM in; VAD frames through the echo guard and the detector; events out."""

    def __init__(
        self,
        vad: Vad,
        call_rate: int,
        detector: TurnDetector,
        echo: EchoGuard | None,
        *,
        threshold: float = 0.5,
    ) -> None:
        self.vad = vad
        self.detector = detector
        self.echo = echo
        self.threshold = threshold
        self._resampler = Resampler(call_rate, vad.sample_rate)
        self._frame_bytes = vad.frame_samples * 2
        self._buffer = b""
        self.echo_frames = 0  # frames the echo guard silenced (observability, tests)

    def feed(
        self, pcm: bytes, received_at: float
    ) -> list[SpeechStarted | SpeechPaused | SpeechEnded]:
        """One inbound frame, received at monotonic `received_at`."""
        self._buffer += self._resampler.process(pcm)
        events: list[SpeechStarted | SpeechPaused | SpeechEnded] = []
        rate = self.vad.sample_rate
        while len(self._buffer) >= self._frame_bytes:
            size = self._frame_bytes
            frame, self._buffer = self._buffer[:size], self._buffer[size:]
            end_at = received_at - len(self._buffer) / 2 / rate
            probability = self.vad.probability(frame)
            voiced = probability >= self.threshold
            rising = not voiced and probability >= self.threshold - RISING_MARGIN
            if self.echo is not None:
                if (voiced or rising) and self.echo.is_echo(frame, end_at):
                    self.echo_frames += voiced
                    voiced = rising = False
                self.echo.heard(frame)
            event = self.detector.push(frame, voiced, end_at, rising=rising)
            if event is not None:
                events.append(event)
        return events
