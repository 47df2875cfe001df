"""Synthesised answers of outbound calls: answering machines (a greeting, then a beep) and
people ("Hello?", "Yes, this is Jane", ...), for the answering-machine detector's tests and
`bench/amd.py`.

Speech is rendered by Piper (the one local voice, en_US-joe) in three "voices": its own, and
pitch-shifted up and down (rendered slower or faster, then played back at another rate), at
several speeds. Each case starts with the ring-to-first-word silence of a real answer, has a
little line noise, and half go through an 8 kHz telephone band.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np

from media_gateway.engines import resample
from providers.speech.models import piper_voice
from providers.speech.piper_tts import PiperTts

RATE = 16_000

MACHINE_GREETINGS = [
    "Hi, you've reached Jane. I can't take your call right now. Please leave a message "
    "after the beep.",
    "Hello, this is Jane Smith. Leave me a message and I'll get back to you.",
    "The person you are calling is not available. Please leave a message after the tone.",
    "You have reached the voicemail of five five five, zero one two three. Please record your "
    "message after the tone.",
    "Jane here. Leave a message.",
    "Hi! Sorry I missed you. I'm away from my phone at the moment, so leave your name and "
    "number and I'll call you back.",
    "Hello, you've reached the Martin family. We're not home right now, please leave a message.",
    "Thank you for calling. Our office is currently closed. Please leave your name, number "
    "and a brief message.",
]
HUMAN_ANSWERS = [
    "Hello?",
    "Yes, this is Jane.",
    "Hello, Jane speaking, who is this?",
    "Hi.",
    "Yeah?",
    "Hello, this is Jane.",
    "Jane Smith speaking.",
    "Good morning, how can I help you?",
]


@dataclass(frozen=True)
class Voice:
    name: str
    pitch: float  # >1: higher
    speed: float


VOICES = [Voice("joe", 1.0, 1.0), Voice("joe-high", 1.3, 1.08), Voice("joe-low", 0.85, 0.92)]
BEEPS_HZ = [1000, 440, 850, 1400, 2000, 1000]
BEEPS_S = [0.5, 0.25, 0.8, 0.4, 0.6, 1.0]


@dataclass(frozen=True)
class Case:
    name: str
    kind: Literal["machine", "human"]
    text: str
    pcm: bytes  # PCM16LE mono at RATE, from the answer
    speech_end_s: float  # end of the greeting's speech
    beep_end_s: float | None  # machines with a beep: its end (the message starts there)

    @property
    def seconds(self) -> float:
        return len(self.pcm) / 2 / RATE


@cache
def _tts() -> PiperTts:
    # No sampling noise: the same text is the same audio on every run (reproducible cases).
    return PiperTts(*piper_voice(), noise_scale=0.0, noise_w_scale=0.0)


async def speak(text: str, voice: Voice) -> np.ndarray:
    """`text` in `voice`, float samples at RATE."""
    tts = _tts()
    # Rendered `pitch` times longer, then played `pitch` times faster: the pitch moves, the
    # speed ends up `voice.speed`.
    pcm = b"".join([c async for c in tts.synthesize(text, rate=voice.speed / voice.pitch)])
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if voice.pitch != 1.0:  # linear interpolation: test audio, a little aliasing is fine
        positions = np.arange(0, len(samples) - 1, voice.pitch)
        samples = np.interp(positions, np.arange(len(samples)), samples)
    native = np.clip(samples, -32768, 32767).astype("<i2").tobytes()
    at_rate = resample(native, tts.sample_rate, RATE)
    return np.frombuffer(at_rate, dtype="<i2").astype(np.float64) / 32768.0


def tone(hz: float, seconds: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    ramp = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)  # 10 ms fades: no clicks
    return level * np.sin(2 * np.pi * hz * t) * ramp


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE))


def _line(samples: np.ndarray, seed: int, narrowband: bool) -> bytes:
    rng = np.random.default_rng(seed)
    noisy = samples + rng.normal(0, 10 ** (-55 / 20), len(samples))  # line hiss, -55 dBFS
    pcm = (np.clip(noisy, -1, 1) * 32767).astype("<i2").tobytes()
    if narrowband:  # the PSTN's 8 kHz
        pcm = resample(resample(pcm, RATE, 8_000), 8_000, RATE)
    return pcm


async def machine_case(index: int, voice: Voice, *, seed: int = 0) -> Case:
    text = MACHINE_GREETINGS[index % len(MACHINE_GREETINGS)]
    lead = 0.4 + 0.15 * (index % 5)
    speech = await speak(text, voice)
    parts = [silence(lead), speech]
    speech_end = lead + len(speech) / RATE
    beep_end: float | None = None
    if index % 7 != 6:  # one machine in seven gives no beep
        gap = 0.3 + 0.2 * (index % 4)
        beep_s = BEEPS_S[index % len(BEEPS_S)]
        parts += [silence(gap), tone(BEEPS_HZ[index % len(BEEPS_HZ)], beep_s)]
        beep_end = speech_end + gap + beep_s
    parts.append(silence(3.0))  # recording: the caller's message goes here
    pcm = _line(np.concatenate(parts), seed + index, narrowband=index % 2 == 1)
    return Case(f"machine-{index}-{voice.name}", "machine", text, pcm, speech_end, beep_end)


async def human_case(index: int, voice: Voice, *, seed: int = 0) -> Case:
    text = HUMAN_ANSWERS[index % len(HUMAN_ANSWERS)]
    lead = 0.2 + 0.15 * (index % 4)
    speech = await speak(text, voice)
    parts = [silence(lead), speech, silence(2.5)]  # then waits for the caller
    if index % 3 == 2:  # nobody speaks: "Hello?" again
        parts += [await speak("Hello?", voice), silence(2.0)]
    pcm = _line(np.concatenate(parts), seed + 100 + index, narrowband=index % 2 == 0)
    return Case(f"human-{index}-{voice.name}", "human", text, pcm, lead + len(speech) / RATE, None)


async def all_cases() -> list[Case]:
    """Every greeting and answer in every voice: 24 machines, 24 people."""
    cases = []
    for v, voice in enumerate(VOICES):
        for i in range(len(MACHINE_GREETINGS)):
            cases.append(await machine_case(i + v * len(MACHINE_GREETINGS), voice))
        for i in range(len(HUMAN_ANSWERS)):
            cases.append(await human_case(i + v * len(HUMAN_ANSWERS), voice))
    return cases
