"""Static sentences (errors, notices, goodbyes) pushed to the call's sentence stream."""

from __future__ import annotations

from temporalio import activity

from domain.contracts import SPEAK_INDEX_BASE, SentenceEvent, SpeakInput
from providers.sentences.base import SentenceSink


class SpeechActivities:
    def __init__(self, sentences: SentenceSink) -> None:
        self._sentences = sentences

    @activity.defn(name="speak")
    async def speak(self, input: SpeakInput) -> None:
        """Append the phrase once: a retried `speak` finds its key and appends nothing.

        The key is the activity's own (workflow run and activity id): a workflow may say the
        same phrase twice in one turn (two silence prompts), never in one activity.
        """
        info = activity.info()
        seq = int(info.activity_id) if info.activity_id.isdigit() else 0
        event = SentenceEvent(
            turn_id=input.turn_id,
            index=SPEAK_INDEX_BASE + seq,
            kind=input.kind,
            text=input.text,
            style=input.style,
            lang=input.lang,
        )
        key = f"speak:{info.workflow_run_id}:{info.activity_id}"
        await self._sentences.append_once(input.call_id, event, key)
