"""What the LLM activity needs from a sentence stream."""

from __future__ import annotations

from typing import Protocol

from domain.contracts import SentenceEvent


class SentenceSink(Protocol):
    """Appends sentences to a call's stream, in order."""

    async def append(self, call_id: str, event: SentenceEvent) -> str:
        """Append one event; return its stream entry id."""
        ...
