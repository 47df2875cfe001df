"""Barge-in arbitration: one `Overlap` per stretch of caller speech over the bot's audio.

Speech longer than the cutoff stops the audio at once (phones buffer, so waiting for STT
would let the bot talk over the caller); whether it was a real interruption is settled by
its length (longer than `backchannel_max_s`) or, for short speech, by its transcript: a
backchannel or noise resumes the rest of the answer, so the bot never goes silent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from domain.contracts import BargeIn
from media_gateway import turns
from media_gateway.call_context import CallContext
from media_gateway.engines import SpeechStream
from media_gateway.listening import TurnDetector
from media_gateway.protocol import stop_audio_message
from media_gateway.speaking import Interruption, Send


@dataclass
class Overlap:
    onset_at: float
    stopped: Interruption | None = None  # audio stopped, decision pending or taken
    confirmed: bool = False  # a real interruption: `barge_in` signalled
    signal: asyncio.Task[None] | None = None  # the `barge_in` signal, awaited before the turn
    stop_sent_at: float | None = None


class BargeInArbiter:
    """Stops the bot when the caller talks over it, and settles whether that was a turn."""

    def __init__(self, call: CallContext, detector: TurnDetector, send: Send) -> None:
        self._call = call
        self._detector = detector
        self._send = send
        self.overlap: Overlap | None = None  # of the caller's current speech
        self.stop_audio_at: list[float] = []

    def speech_started(self, onset_at: float, stream: SpeechStream | None) -> None:
        """The caller started speaking (at `onset_at`); `stream`: heard live, if it is."""
        if self._call.speaking():
            self.overlap = Overlap(onset_at)
        if stream is not None and self.overlap is not None:
            self._call.spawn(self._follow_partials(stream, self.overlap))

    def speech_ended(self) -> Overlap | None:
        """The caller's speech ended: its overlap (if it was over the bot) goes with it."""
        overlap, self.overlap = self.overlap, None
        return overlap

    async def check(self, now: float) -> None:
        """`now`: the media clock's, as the onset's (the timer counts the caller's audio)."""
        overlap, detector = self.overlap, self._detector
        if overlap is None or self._call.speaker is None or not detector.in_speech:
            return
        voiced_s = detector.voiced_s
        cutoff_s = self._call.flags.vad_cutoff_timeout_ms / 1000
        # The cutoff is a timer from the onset (checked on every 20 ms frame, not only on
        # whole VAD frames); it runs through a short pause ("Wait, ..."), and fires once
        # enough of it was voice: a cough or a click is shorter than that.
        voiced_enough = detector.voice_s >= self.voice_needed_s()
        if overlap.stopped is None and detector.span_at(now) >= cutoff_s and voiced_enough:
            await self.stop_audio(overlap)
        if not overlap.confirmed and voiced_s >= self._call.config.backchannel_max_ms / 1000:
            if overlap.stopped is None:  # too long for a backchannel, whatever the cutoff
                await self.stop_audio(overlap)
            self.confirm(overlap)

    def too_little_voice(self, overlap: Overlap | None, voice_s: float) -> bool:
        """Over the bot, less voice than a barge-in needs: a cough, a click, or echo frames
        the guard missed (their words are in the utterance's audio: not worth a transcript)."""
        if overlap is None or overlap.stopped is not None or overlap.confirmed:
            return False
        return voice_s < self.voice_needed_s()

    def voice_needed_s(self) -> float:
        """How much voice speech over the bot needs to stop it."""
        config, flags = self._call.config, self._call.flags
        return min(config.barge_in_min_voice_ms, flags.vad_cutoff_timeout_ms) / 1000

    async def judge(self, overlap: Overlap | None, text: str, speech_s: float) -> bool:
        """The transcript of speech over the bot is in: whether it is a turn (a backchannel
        or noise is not: the answer resumes)."""
        if overlap is None or overlap.confirmed:
            return True
        if turns.is_backchannel(text) or turns.implausible(text, speech_s):
            self.resume(overlap)
            return False
        if overlap.stopped is None:
            await self.stop_audio(overlap)
        self.confirm(overlap)
        return True

    async def stop_audio(self, overlap: Overlap) -> None:
        speaker = self._call.speaker
        assert speaker is not None
        await self._send(stop_audio_message())  # first: every ms the caller hears the bot counts
        overlap.stop_sent_at = self._call.clock()
        self.stop_audio_at.append(overlap.stop_sent_at)
        self._call.telemetry.barge_in(speaker.turn_id, overlap.onset_at, overlap.stop_sent_at)
        overlap.stopped = await speaker.stop()

    async def _follow_partials(self, stream: SpeechStream, overlap: Overlap) -> None:
        """Words (not a backchannel, nor its start) heard over the bot: a real interruption,
        confirmed now rather than at the end of the utterance."""
        async for text in stream.partials():
            if overlap.confirmed:
                return
            if turns.may_be_backchannel(text):
                continue
            if overlap.stopped is None:
                await self.stop_audio(overlap)
            if not overlap.confirmed:
                self.confirm(overlap)
            return

    def confirm(self, overlap: Overlap) -> None:
        """A real interruption: drop the rest of the answer and tell the workflow."""
        speaker = self._call.speaker
        assert speaker is not None
        overlap.confirmed = True
        cut = overlap.stopped
        if cut is None:
            return
        speaker.drop(cut.turn_id)
        event = BargeIn(turn_id=cut.turn_id, heard_text=cut.heard) if cut.turn_id >= 0 else None
        if event is not None:
            overlap.signal = self._call.spawn(self._call.control.barge_in(event))

    def resume(self, overlap: Overlap) -> None:
        """A false interruption (backchannel, noise): say the rest."""
        speaker = self._call.speaker
        assert speaker is not None
        if overlap.stopped is not None:
            speaker.resume(overlap.stopped)
        overlap.confirmed = True
