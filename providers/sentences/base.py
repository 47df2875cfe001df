"""What the activities need from a sentence stream."""

from __future__ import annotations

from typing import NamedTuple, Protocol

from domain.contracts import SentenceEvent


class Appended(NamedTuple):
    """What `append_once` found: the entry's id and text (the first append's), and whether
    this call appended it."""

    entry_id: str
    text: str
    new: bool


class SentenceSink(Protocol):
    """Appends sentences to a call's stream, in order, each key at most once."""

    async def append_once(
        self, call_id: str, event: SentenceEvent, key: str | None = None
    ) -> Appended:
        """Append one event unless its key was appended already; say which text holds it."""
        ...

    async def appended(self, call_id: str, turn_id: int, iteration: int) -> dict[int, str]:
        """The texts appended for this turn and iteration, by index."""
        ...
