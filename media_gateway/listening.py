"""From inbound audio to utterances: resample, echo gate, VAD, and the turn detector.

Timings count audio, not wall time: ACS streams in real time, and counting samples keeps the
detector deterministic and immune to frame bursts.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from media_gateway import end_of_turn
from media_gateway.echo import EchoGuard
from media_gateway.engines import Resampler, Vad
from media_gateway.media_clock import MediaClock


@dataclass(frozen=True)
class SpeechStarted:
    """Speech went on for `start_ms`; `onset_at` is the monotonic time of its first frame."""

    onset_at: float


@dataclass(frozen=True)
class SpeechPaused:
    """The caller went quiet for the pre-roll's length (`end_of_turn.EARLY_STT_MS` when the end
    of turn adapts): `pcm` is the utterance as `SpeechEnded` will hand it over if the silence
    lasts (transcribing it now hides the STT in the wait, and tells whether it is complete)."""

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
# The energy onset (see `energy_onset`): 10 ms windows, at most 100 ms before the first voiced
# frame, each this far above the noise floor measured in the pre-roll before them, and not
# too far under the voiced frame's loudest window.
ONSET_WINDOW_S = 0.01
MAX_ENERGY_BACKDATE_S = 0.1
ONSET_OVER_FLOOR_DB = 15.0
ONSET_UNDER_VOICE_DB = 35.0


def energy_onset(pcm: bytes, rate: int, voiced_from: int) -> int:
    """Where the speech that Silero first hears at byte `voiced_from` of `pcm` began: the
    byte offset of the earliest 10 ms window of the unbroken run of windows just before it
    that stand `ONSET_OVER_FLOOR_DB` above the floor of the audio before them (and within
    `ONSET_UNDER_VOICE_DB` of the voiced frame: a faint click on a silent line is not speech).

    Silero scores the unvoiced start of a word low (the /s/ of "Sorry", an /h/, a soft
    vowel): its first voiced frame comes up to ~60 ms after the speech began. The level
    rises at the real start; a run of louder windows right before the voiced frame dates it.
    Echo or noise as loud as the start leaves the floor too high, and nothing is backdated.
    """
    win = round(rate * ONSET_WINDOW_S)
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    n = x.size // win
    first_voiced = voiced_from // 2 // win
    lookback = round(MAX_ENERGY_BACKDATE_S / ONSET_WINDOW_S)
    start = max(first_voiced - lookback, 0)
    if start < 3:  # too little audio before to know the floor
        return voiced_from
    levels = np.sqrt(np.mean(x[: n * win].reshape(n, win) ** 2, axis=1)) + 1.0
    floor = float(np.percentile(levels[:start], 50))
    voice = float(levels[first_voiced:].max(initial=0.0))
    threshold = max(
        floor * 10 ** (ONSET_OVER_FLOOR_DB / 20), voice * 10 ** (-ONSET_UNDER_VOICE_DB / 20)
    )
    loud = levels >= threshold
    onset = first_voiced
    while onset > start and loud[onset - 1]:
        onset -= 1
    return min(onset * win * 2, voiced_from)


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
        # Silence at which `SpeechPaused` comes: the pre-roll, shorter when the end adapts.
        self._pause_frames = self._pre_roll_frames
        self.adaptive = False  # the end of turn adapts to the early transcript
        self._short_ms = end_of_turn.SHORT_SILENCE_MS  # the silence after a complete one
        self._paused: bytes | None = None  # the audio of this pause's `SpeechPaused`
        self._end_frames: int | None = None  # this pause's own silence (a complete sentence)
        self.verdicts: list[end_of_turn.Verdict] = []  # of early transcripts (observability)
        self.end_silences_ms: list[float] = []  # the silence that ended each utterance
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

    def _energy_backdate_s(self) -> float:
        """How long before the current (first voiced) frame the level rose (`energy_onset`)."""
        frames = list(self._recent)
        size = len(frames[-1])
        if size < 2 or any(len(f) != size for f in frames):
            return 0.0
        rate = round(size / 2 / self.frame_s)
        voiced_from = size * (len(frames) - 1)
        onset = energy_onset(b"".join(frames), rate, voiced_from)
        return (voiced_from - onset) / 2 / rate

    def set_silence_ms(self, silence_ms: float) -> None:
        self.silence_frames = max(1, round(silence_ms / 1000 / self.frame_s))

    def set_adaptive(self, adaptive: bool, short_ms: float = end_of_turn.SHORT_SILENCE_MS) -> None:
        """Adapt the end of turn to the early transcript (`heard`): `short_ms` of silence
        after a complete sentence; or wait a fixed silence."""
        self.adaptive = adaptive
        self._short_ms = short_ms
        pause_ms = end_of_turn.EARLY_STT_MS if adaptive else None
        self._pause_frames = (
            max(1, round(pause_ms / 1000 / self.frame_s))
            if pause_ms is not None
            else self._pre_roll_frames
        )

    def heard(self, pcm: bytes, transcript: asyncio.Future[str], lang: str) -> None:
        """The early transcript of the `SpeechPaused` audio `pcm` is done: a complete
        sentence ends the turn after the short silence (`set_adaptive`), on the next frame if
        the silence is already that long. Ignored when the caller spoke again since, or when
        the end of turn does not adapt."""
        if not self.adaptive or pcm is not self._paused or not self.in_speech:
            return
        if transcript.cancelled() or transcript.exception() is not None:
            return
        verdict = end_of_turn.judge(transcript.result(), lang)
        self.verdicts.append(verdict)
        if verdict is end_of_turn.Verdict.COMPLETE:
            configured_ms = self.silence_frames * self.frame_s * 1000
            short_ms = end_of_turn.silence_ms(verdict, configured_ms, self._short_ms)
            self._end_frames = max(self._pause_frames, round(short_ms / 1000 / self.frame_s))

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
                # that scored close to the threshold are where it began, or the rise of the
                # level just before it.
                backdate_s = min(self._rising_run, MAX_BACKDATE_FRAMES) * self.frame_s
                self._onset_at = start_at - max(backdate_s, self._energy_backdate_s())
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
            # The caller goes on: whatever the last pause's transcript said is stale.
            self._paused = self._end_frames = None
            self._silent_run = 0
            self._voiced_frames += 1
            self._last_voiced_at = end_at
            return None
        self._silent_run += 1
        end_frames = self.silence_frames if self._end_frames is None else self._end_frames
        if self._silent_run < end_frames:
            if self._silent_run == self._pause_frames:
                # The utterance with as much trailing silence as it ends with.
                self._paused = b"".join(self._utterance)
                return SpeechPaused(self._paused)
            return None
        # Keep the pause's trailing silence (~100-200 ms: enough for STT, less to transcribe):
        # the audio is then the paused one, whose transcript is already under way.
        keep = len(self._utterance) - self._silent_run + self._pause_frames
        pcm = b"".join(self._utterance[: max(keep, 1)])
        ended = SpeechEnded(
            pcm, self._last_voiced_at - self._onset_at, self._last_voiced_at, self.voice_s
        )
        self.end_silences_ms.append(self._silent_run * self.frame_s * 1000)
        self.in_speech = False
        self._utterance = []
        self._voiced_run = 0
        self._paused = self._end_frames = None
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
        self._call_rate = call_rate
        self._clock = MediaClock()
        self.now = 0.0  # when the end of the audio fed so far was spoken (monotonic)
        self._frame_bytes = vad.frame_samples * 2
        self._buffer = b""
        self.echo_frames = 0  # frames the echo guard silenced (observability, tests)

    def feed(
        self, pcm: bytes, received_at: float
    ) -> list[SpeechStarted | SpeechPaused | SpeechEnded]:
        """One inbound frame, received at monotonic `received_at`.

        Frames are placed by the media clock: a burst after a stall keeps its timeline.
        """
        self.now = self._clock.advance(len(pcm) / 2 / self._call_rate, received_at)
        self._buffer += self._resampler.process(pcm)
        events: list[SpeechStarted | SpeechPaused | SpeechEnded] = []
        rate = self.vad.sample_rate
        while len(self._buffer) >= self._frame_bytes:
            size = self._frame_bytes
            frame, self._buffer = self._buffer[:size], self._buffer[size:]
            end_at = self.now - len(self._buffer) / 2 / rate
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
