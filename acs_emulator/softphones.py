"""Phones that a browser softphone holds: rings go to the page instead of the phone's script."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from acs_emulator.config import Timings
from acs_emulator.phones import PhoneBook, RingOutcome


class RingTarget(Protocol):
    """A softphone line (one open page) that takes the calls ringing its number."""

    async def ring(self, timeout_s: float) -> RingOutcome | None:
        """How the person at the page treated the ring; None: this is no call the page takes."""
        ...


class SoftphoneBook(PhoneBook):
    """The phone book, plus the numbers an open softphone page acts as."""

    def __init__(self, timings: Callable[[], Timings]) -> None:
        super().__init__(timings)
        self._lines: dict[str, RingTarget] = {}

    def known(self, number: str) -> bool:
        """A phone added to the book (not one `unknown_numbers` makes up)."""
        return any(phone.number == number for phone in self.all())

    def attach(self, number: str, line: RingTarget) -> bool:
        """The page now acts as `number`; False when another page already does."""
        held = self._lines.get(number)
        if held is not None and held is not line:
            return False
        self._lines[number] = line
        return True

    def detach(self, number: str, line: RingTarget) -> None:
        if self._lines.get(number) is line:
            del self._lines[number]

    async def ring(self, number: str) -> RingOutcome:
        line = self._lines.get(number)
        if line is not None:
            outcome = await line.ring(self.ring_timeout_s(self.get(number)))
            if outcome is not None:
                return outcome
        return await super().ring(number)
