"""Answering-machine detection on the media stream (ACS has none).

`MachineDetector` is pure: PCM frames in, decisions out. It listens to the first seconds of an
outbound call's answer and decides, from what answering machines and people do:

- **Greeting length and cadence.** A person says a short "Hello?" (or "Yes, this is Jane")
  and waits for the caller; a machine's greeting runs on for seconds, with only short pauses
  between its sentences. Speech that keeps going past `machine_speech_ms` is a machine; a
  silence of `human_silence_ms` after a shorter greeting is a person waiting.
- **The beep.** A pure tone (one spectral peak holding most of the energy, at a steady
  frequency) of `beep_min_ms` or more is a machine's record tone, whatever its pitch (carriers
  differ: 440 Hz to 2 kHz). Found with an FFT over 40 ms windows, every 20 ms.
- **Transcript cues.** "leave a message", "after the tone", "not available", ...: decisive when
  the transcript of the greeting comes before the audio rules decide.
- **Silence.** Nothing said for `no_speech_ms`: "unknown" (treated as a person: a silent line
  is rather someone who picked up and waits).

After a machine decision it keeps listening for the end of the greeting -- the beep, or a
silence of `greeting_end_silence_ms` -- and reports it ("beep"): the message starts then.

`MachineWatch` wires one detector to a call that wants it (`CallView.machine_detection`, read
with the call at connect): it feeds it the caller's frames, signals each decision to the
workflow (`machine_detected`), and holds back as turns the words of the greeting judged.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from domain.call import MachineDetection
from media_gateway.control import CallView

log = logging.getLogger(__name__)

FRAME_MS = 20
Kind = Literal["human", "machine", "unknown", "beep"]

# Phrases of recorded greetings (carriers' and people's), matched on the lowercased transcript.
MACHINE_CUES = re.compile(
    r"leave (me |us )?(a |your )?(brief |short )?(message|name|number)|after the (tone|beep)"
    r"|at the (tone|beep)|(not|un) ?available|can'?t (take|come to|get to) (your|the) (call|phone)"
    r"|you(')?ve reached|you have reached|record your message|mailbox|voice ?mail"
    r"|is not in service|get back to you|return your call|away from (my|the) (desk|phone)"
)


@dataclass(frozen=True)
class AmdConfig:
    """Thresholds (ms of the answer's audio). Defaults tuned on `bench/amd.py`."""

    machine_speech_ms: float = 2_800  # a greeting still going after this is recorded
    human_silence_ms: float = 800  # silence after a short greeting: a person waiting
    no_speech_ms: float = 5_000  # nothing said: unknown
    max_ms: float = 8_000  # undecided this long into the answer: unknown
    greeting_end_silence_ms: float = 1_500  # a machine's greeting ended without a beep
    speech_start_ms: float = 60  # voiced this long: speech started (a click is shorter)
    speech_db: float = 15  # above the noise floor
    min_speech_dbfs: float = -48  # never quieter than this (digital silence has no floor)
    beep_min_ms: float = 120
    beep_ratio: float = 0.75  # share of the band's energy in the peak's ±2 bins
    beep_min_hz: float = 300
    beep_max_hz: float = 3_000


@dataclass(frozen=True)
class Decision:
    kind: Kind
    after_ms: int  # into the answer's audio
    reason: str

    def signal(self) -> MachineDetection:
        return MachineDetection(kind=self.kind, after_ms=self.after_ms, reason=self.reason)


class MachineDetector:
    """Feed the caller's audio from the answer on; `decision` is set once decided."""

    def __init__(self, sample_rate: int, config: AmdConfig | None = None) -> None:
        self.sample_rate = sample_rate
        self.config = config or AmdConfig()
        self._frame = sample_rate * FRAME_MS // 1000
        self._pending = b""
        self._previous = np.zeros(self._frame)
        self._window = np.hanning(2 * self._frame)
        self._freqs = np.fft.rfftfreq(2 * self._frame, 1 / sample_rate)
        self._band = (self._freqs >= 200) & (self._freqs <= 3_600)
        self.t_ms = 0.0
        self._floor_db = -60.0
        self._voiced_run = 0.0
        self._speech_start: float | None = None  # first speech of the answer
        self._last_voice: float | None = None  # end of the latest voiced frame
        self._last_sound: float | None = None  # ... or tone frame (a beep is no silence)
        self._in_speech = False
        self._tone_ms = 0.0
        self._tone_hz = 0.0
        self._tone_seen = False
        self.decision: Decision | None = None
        self.greeting_end: Decision | None = None  # after a machine decision

    @property
    def done(self) -> bool:
        """Nothing more to say: a person (or unknown), or a machine whose greeting ended."""
        decision = self.decision
        return decision is not None and (
            decision.kind != "machine" or self.greeting_end is not None
        )

    def feed(self, pcm: bytes) -> list[Decision]:
        """PCM16LE mono at `sample_rate`, any length; the decisions it led to."""
        data = self._pending + pcm
        size = self._frame * 2
        whole = len(data) - len(data) % size
        self._pending = data[whole:]
        out: list[Decision] = []
        for start in range(0, whole, size):
            if self.done:
                break
            frame = np.frombuffer(data[start : start + size], dtype="<i2").astype(np.float64)
            out.extend(self._step(frame / 32768.0))
        return out

    def hear(self, text: str) -> list[Decision]:
        """A transcript of the answer's speech (it comes late: the audio rules often decided)."""
        if self.decision is None and MACHINE_CUES.search(text.lower()):
            return [self._decide("machine", f"greeting says: {text.strip()[:80]}")]
        return []

    # --- one 20 ms frame ---------------------------------------------------------------------

    def _step(self, frame: np.ndarray[Any, np.dtype[np.float64]]) -> list[Decision]:
        c = self.config
        self.t_ms += FRAME_MS
        rms = float(np.sqrt(np.mean(frame**2)))
        db = 20 * np.log10(rms + 1e-9)
        tonal_hz = self._tone(frame, db)
        self._previous = frame
        # The floor follows quiet frames down at once and up slowly (noise, not speech).
        self._floor_db = (
            min(db, self._floor_db + 0.05) if db < self._floor_db + 6 else self._floor_db
        )
        voiced = db > max(self._floor_db + c.speech_db, c.min_speech_dbfs) and tonal_hz is None
        out: list[Decision] = []
        out.extend(self._beep(tonal_hz))
        self._voice(voiced)
        if voiced or tonal_hz is not None:
            self._last_sound = self.t_ms
        out.extend(self._rules())
        return out

    def _tone(self, frame: np.ndarray[Any, np.dtype[np.float64]], db: float) -> float | None:
        """The frequency of a pure tone in the last 40 ms, or None."""
        if db < self.config.min_speech_dbfs:
            return None
        window = np.concatenate([self._previous, frame]) * self._window
        power = np.abs(np.fft.rfft(window)) ** 2
        band = np.where(self._band, power, 0.0)
        total = float(band.sum())
        if total <= 0:
            return None
        peak = int(np.argmax(band))
        share = float(band[max(peak - 2, 0) : peak + 3].sum()) / total
        hz = float(self._freqs[peak])
        c = self.config
        if share >= c.beep_ratio and c.beep_min_hz <= hz <= c.beep_max_hz:
            return hz
        return None

    def _beep(self, hz: float | None) -> list[Decision]:
        c = self.config
        steady = hz is not None and (self._tone_ms == 0 or abs(hz - self._tone_hz) <= 60)
        if hz is not None and steady:
            self._tone_hz = hz if self._tone_ms == 0 else self._tone_hz
            self._tone_ms += FRAME_MS
            if self._tone_ms >= c.beep_min_ms and not self._tone_seen:
                self._tone_seen = True
                if self.decision is None:
                    return [self._decide("machine", f"beep at {self._tone_hz:.0f} Hz")]
            return []
        ended = self._tone_seen
        self._tone_ms, self._tone_seen = (FRAME_MS, False) if hz is not None else (0.0, False)
        self._tone_hz = hz or 0.0
        if ended and self._is_machine() and self.greeting_end is None:
            # The message is recorded from the end of the beep.
            self.greeting_end = Decision("beep", int(self.t_ms), "beep ended")
            return [self.greeting_end]
        return []

    def _voice(self, voiced: bool) -> None:
        c = self.config
        if voiced:
            self._voiced_run += FRAME_MS
            if self._voiced_run >= c.speech_start_ms:
                if self._speech_start is None:
                    self._speech_start = self.t_ms - self._voiced_run
                self._in_speech = True
                self._last_voice = self.t_ms
        else:
            self._voiced_run = 0.0
            if self._in_speech:
                self._last_voice = self.t_ms - FRAME_MS
            self._in_speech = False

    def _rules(self) -> list[Decision]:
        c = self.config
        now = self.t_ms
        if self.decision is None:
            start, last = self._speech_start, self._last_voice
            if start is None:
                if now >= c.no_speech_ms:
                    return [self._decide("unknown", "no speech")]
                return []
            assert last is not None
            silence = now - last
            if silence < c.human_silence_ms and last - start >= c.machine_speech_ms:
                return [
                    self._decide("machine", f"greeting longer than {c.machine_speech_ms:.0f} ms")
                ]
            if not self._in_speech and silence >= c.human_silence_ms:
                return [self._decide("human", f"{last - start:.0f} ms of speech, then silence")]
            if now >= c.max_ms:
                return [self._decide("unknown", "undecided")]
            return []
        if self._is_machine() and self.greeting_end is None and self._last_sound is not None:
            if not self._in_speech and now - self._last_sound >= c.greeting_end_silence_ms:
                self.greeting_end = Decision("beep", int(now), "silence after the greeting")
                return [self.greeting_end]
        return []

    def _is_machine(self) -> bool:
        return self.decision is not None and self.decision.kind == "machine"

    def _decide(self, kind: Kind, reason: str) -> Decision:
        self.decision = Decision(kind, int(self.t_ms), reason)
        return self.decision


# --- the wiring into a call's media session --------------------------------------------------

Spawn = Callable[[Awaitable[None]], Any]
Signal = Callable[[MachineDetection], Awaitable[None]]


class MachineWatch:
    """One call's detector: frames in, the workflow signalled, the greeting kept from turns."""

    def __init__(
        self,
        detector: MachineDetector,
        signal: Signal,
        spawn: Spawn,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.detector = detector
        self._signal = signal
        self._spawn = spawn
        self._clock = clock
        self.decided_at: float | None = None  # the clock's, when the decision was made
        self.sent: list[Decision] = []

    @classmethod
    def for_call(
        cls,
        control: object,
        view: CallView,
        sample_rate: int,
        spawn: Spawn,
        clock: Callable[[], float] = time.monotonic,
    ) -> MachineWatch | None:
        """A watch when the call wants detection (an outbound call with a `machine_action`,
        not answered yet: `view.machine_detection`, read with the call at connect)."""
        # The decisions go to the workflow through the Temporal control's handle (a test's
        # recording control has none: no detection there). Kept here rather than in
        # `CallControl`, which the gateway's tests implement: only outbound calls that ask
        # for it are concerned.
        handle = getattr(control, "_handle", None)
        if not view.machine_detection or handle is None:
            return None
        from workflows.call import CallWorkflow  # the gateway already imports it (control.py)

        async def signal(detection: MachineDetection) -> None:
            await handle.signal(CallWorkflow.machine_detected, detection)

        return cls(MachineDetector(sample_rate), signal, spawn, clock)

    @property
    def done(self) -> bool:
        return self.detector.done

    def feed(self, pcm: bytes) -> None:
        if not self.detector.done:
            self._send(self.detector.feed(pcm))

    def holds(self, text: str, ended_at: float) -> bool:
        """Whether an utterance (`ended_at`: the clock time of its last voiced frame) is part
        of the answer being judged, and so no turn: while undecided, all of a machine's, and a
        person's first words (the bot's greeting answers them)."""
        self._send(self.detector.hear(text))
        decision = self.detector.decision
        if decision is None or decision.kind == "machine":
            return True
        return self.decided_at is not None and ended_at <= self.decided_at

    def _send(self, decisions: list[Decision]) -> None:
        for decision in decisions:
            if decision.kind != "beep":
                self.decided_at = self._clock()
            self.sent.append(decision)
            log.info("answering-machine detection: %s after %d ms (%s)",
                     decision.kind, decision.after_ms, decision.reason)  # fmt: skip
            self._spawn(self._signal(decision.signal()))
