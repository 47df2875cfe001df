"""Simulated PSTN phones: what happens when a call rings one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from acs_emulator.config import Timings
from acs_emulator.models import PhoneConfig, ResultInfo
from acs_emulator.results import BUSY, DECLINED, NO_ANSWER

RingOutcome = Literal["answered", "no-answer", "declined", "busy"]

FAILURES: dict[RingOutcome, ResultInfo] = {
    "no-answer": NO_ANSWER,
    "declined": DECLINED,
    "busy": BUSY,
}
MAX_GREETING_S = 60


@dataclass(frozen=True)
class Greeting:
    """What the phone says as it answers ("Hello?", or a machine's greeting and beep)."""

    pcm: bytes  # PCM16LE mono
    sample_rate: int

    def at(self, rate: int) -> bytes:
        """The greeting at the call's media rate (linear interpolation: test audio)."""
        if rate == self.sample_rate:
            return self.pcm
        samples = np.frombuffer(self.pcm, dtype="<i2").astype(np.float64)
        count = round(len(samples) * rate / self.sample_rate)
        positions = np.arange(count) * (self.sample_rate / rate)
        out = np.interp(positions, np.arange(len(samples)), samples)
        pcm: bytes = np.clip(np.round(out), -32768, 32767).astype("<i2").tobytes()
        return pcm


def check_greeting(pcm: bytes, sample_rate: int) -> Greeting:
    if sample_rate not in (8_000, 16_000, 22_050, 24_000, 44_100, 48_000):
        raise ValueError(f"unsupported sample rate {sample_rate} Hz")
    if len(pcm) % 2:
        raise ValueError("PCM16 audio has an even number of bytes")
    if len(pcm) > MAX_GREETING_S * sample_rate * 2:
        raise ValueError(f"a greeting is at most {MAX_GREETING_S} s")
    return Greeting(pcm, sample_rate)


class PhoneBook:
    """Configured phones; any other number behaves as `Timings.unknown_numbers` says."""

    def __init__(self, timings: Callable[[], Timings]) -> None:
        self._timings = timings
        self._phones: dict[str, PhoneConfig] = {}
        self._greetings: dict[str, Greeting] = {}

    def add(self, phone: PhoneConfig) -> PhoneConfig:
        self._greetings.pop(phone.number, None)  # a phone set again starts without one
        phone = phone.model_copy(update={"has_greeting": False})
        self._phones[phone.number] = phone
        return phone

    def set_greeting(self, number: str, greeting: Greeting) -> PhoneConfig:
        """The audio the phone plays when it answers (a configured phone only)."""
        phone = self._phones.get(number)
        if phone is None:
            raise KeyError(number)
        self._greetings[number] = greeting
        phone = phone.model_copy(update={"has_greeting": True})
        self._phones[number] = phone
        return phone

    def greeting(self, number: str) -> Greeting | None:
        return self._greetings.get(number)

    def all(self) -> list[PhoneConfig]:
        return list(self._phones.values())

    def clear(self) -> None:
        self._phones.clear()
        self._greetings.clear()

    def get(self, number: str) -> PhoneConfig:
        phone = self._phones.get(number)
        if phone is not None:
            return phone
        timings = self._timings()
        return PhoneConfig(
            number=number, answer=timings.unknown_numbers, answer_delay_ms=timings.answer_delay_ms
        )

    def ring_timeout_s(self, phone: PhoneConfig) -> float:
        ms = phone.ring_timeout_ms
        return (self._timings().ring_timeout_ms if ms is None else ms) / 1000

    async def ring(self, number: str) -> RingOutcome:
        """Ring the phone until it answers, declines or the ring timeout passes."""
        phone = self.get(number)
        if phone.answer == "never":
            await asyncio.sleep(self.ring_timeout_s(phone))
            return "no-answer"
        await asyncio.sleep(phone.answer_delay_ms / 1000)
        if phone.answer == "reject":
            return "declined"
        if phone.answer == "busy":
            return "busy"
        return "answered"  # "auto", or "voicemail": a machine answers
