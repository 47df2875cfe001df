"""Static sentences (errors, notices, goodbyes) pushed to the call's sentence stream."""

from __future__ import annotations

from temporalio import activity

from domain.contracts import SentenceEvent, SpeakInput
from providers.sentences.base import SentenceSink


class SpeechActivities:
    def __init__(self, sentences: SentenceSink) -> None:
        self._sentences = sentences

    @activity.defn(name="speak")
    async def speak(self, input: SpeakInput) -> None:
        event = SentenceEvent(
            turn_id=input.turn_id,
            kind=input.kind,
            text=input.text,
            style=input.style,
            lang=input.lang,
        )
        await self._sentences.append(input.call_id, event)
