"""Simulated PSTN phones: what happens when a call rings one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

from acs_emulator.config import Timings
from acs_emulator.models import PhoneConfig, ResultInfo
from acs_emulator.results import BUSY, DECLINED, NO_ANSWER

RingOutcome = Literal["answered", "no-answer", "declined", "busy"]

FAILURES: dict[RingOutcome, ResultInfo] = {
    "no-answer": NO_ANSWER,
    "declined": DECLINED,
    "busy": BUSY,
}


class PhoneBook:
    """Configured phones; any other number behaves as `Timings.unknown_numbers` says."""

    def __init__(self, timings: Callable[[], Timings]) -> None:
        self._timings = timings
        self._phones: dict[str, PhoneConfig] = {}

    def add(self, phone: PhoneConfig) -> PhoneConfig:
        self._phones[phone.number] = phone
        return phone

    def all(self) -> list[PhoneConfig]:
        return list(self._phones.values())

    def clear(self) -> None:
        self._phones.clear()

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
        return "answered"
