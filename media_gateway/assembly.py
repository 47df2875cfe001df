"""Turn assembly: the caller's utterances → transcripts → turns.

An utterance is transcribed (heard live by a streaming recogniser, or from the transcript
started when the caller paused, or whole), judged when it was said over the bot (a
backchannel resumes the answer), and held while a number or a sentence is still going on:
the parts said within the hold are one turn. Then the turn goes to `TurnSender`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from media_gateway import end_of_turn, turns
from media_gateway.amd import MachineWatch
from media_gateway.bargein import BargeInArbiter, Overlap
from media_gateway.call_context import CallContext
from media_gateway.delivery import TurnSender
from media_gateway.engines import SpeechStream, SpeechToText, resample
from media_gateway.listening import SpeechEnded, TurnDetector

log = logging.getLogger(__name__)


@dataclass
class Utterance:
    ended: SpeechEnded
    overlap: Overlap | None
    starts_seen: int  # speech starts counted when it ended
    stream: SpeechStream | None = None  # heard live (a streaming recogniser)
    early: asyncio.Task[str] | None = None  # its transcript, started when the caller paused
    fragment: bool = False  # its start was said to the gateway that died


class TurnAssembler:
    def __init__(
        self,
        call: CallContext,
        *,
        stt: SpeechToText,
        vad_rate: int,
        detector: TurnDetector,
        barge_in: BargeInArbiter,
        sender: TurnSender,
        changed: Callable[[], None],
        fragment_dropped: Callable[[], None],
    ) -> None:
        """`changed`: whether it holds caller speech may have changed (`busy`);
        `fragment_dropped`: a cut utterance was dropped (the caller is asked again)."""
        self._call = call
        self._stt = stt
        self._vad_rate = vad_rate
        self._detector = detector
        self._barge_in = barge_in
        self._sender = sender
        self._changed = changed
        self._fragment_dropped = fragment_dropped
        self.amd: MachineWatch | None = None  # answering-machine detection (`amd.py`)
        self._utterances: asyncio.Queue[Utterance] = asyncio.Queue()
        self._parts: list[str] = []  # transcripts held while a number is being said
        self._assembling = False  # an utterance is being transcribed or judged
        self._early: tuple[bytes, asyncio.Task[str]] | None = None  # audio, its transcript
        self.speech_starts = 0
        self._speech_started = asyncio.Event()
        self.fragments = 0  # cut utterances not sent as turns (observability, tests)
        self.task: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        """Caller speech is being transcribed, judged or held here."""
        return not self._utterances.empty() or self._assembling or bool(self._parts)

    def start(self) -> None:
        self.task = asyncio.create_task(self._assemble())

    def close(self) -> None:
        """After `task` is cancelled: no transcription runs on."""
        self._take_early(None)
        while not self._utterances.empty():  # not transcribed: their streams stop too
            self._drop(self._utterances.get_nowait())

    def speech_started(self) -> None:
        self.speech_starts += 1
        self._speech_started.set()

    def paused(self, pcm: bytes) -> None:
        """The caller paused: transcribe what was said so far (`pcm`), early."""
        self._take_early(None)  # the caller spoke again since: that one is stale
        self._early = (pcm, asyncio.create_task(self._transcribe_pcm(pcm)))
        # A complete sentence ends the turn sooner (`end_of_turn`).
        heard = functools.partial(self._detector.heard, pcm, lang=self._call.lang)
        self._early[1].add_done_callback(heard)

    def ended(
        self,
        event: SpeechEnded,
        overlap: Overlap | None,
        stream: SpeechStream | None,
        *,
        fragment: bool,
    ) -> None:
        """An utterance ended: to be transcribed and judged, in order."""
        utterance = Utterance(event, overlap, self.speech_starts, stream, fragment=fragment)
        utterance.early = self._take_early(event.pcm)
        self._utterances.put_nowait(utterance)

    async def _assemble(self) -> None:
        """Utterances → transcripts → turns, holding a turn while a number is being said."""
        call = self._call
        while True:
            self._assembling = False
            self._changed()
            utterance = await self._utterances.get()
            self._assembling = True
            if utterance.fragment:
                # The gateway before this one heard its start: as a turn of its own it would
                # be answered as something the caller never said.
                log.info(
                    "call %s: a cut utterance dropped; the caller is asked again", call.call_id
                )
                self.fragments += 1
                self._drop(utterance)
                self._fragment_dropped()
                continue
            overlap = utterance.overlap
            if self._barge_in.too_little_voice(overlap, utterance.ended.voice_s):
                self._drop(utterance)
                continue
            stt_started = call.clock()
            text = await self._transcribe(utterance)
            if self.amd is not None and self.amd.holds(text, utterance.ended.ended_at):
                continue  # the answer being judged (a machine's greeting, or "Hello?")
            stt = (stt_started, call.clock())
            call.telemetry.stt_done(*stt)
            if not await self._barge_in.judge(overlap, text, utterance.ended.speech_s):
                continue
            if not text.strip():
                continue
            self._parts.append(text)
            joined = turns.join(self._parts)
            # The extra wait starts where the silence timeout ended (`end_of_turn.hold_ms`).
            hold_ms = end_of_turn.hold_ms(
                joined, call.lang, adaptive=call.flags.adaptive_end_of_turn,
                number_hold_ms=call.config.number_hold_ms,
            )  # fmt: skip
            wait_ms = call.flags.vad_silence_timeout_ms + hold_ms
            hold_until = utterance.ended.ended_at + wait_ms / 1000
            if hold_ms and await self._more_speech(utterance, hold_until):
                continue
            self._parts = []
            if overlap is not None and overlap.signal is not None:
                await asyncio.gather(overlap.signal, return_exceptions=True)
            self._sender.delivering += 1  # counted before the assembler looks idle
            ended_at = utterance.ended.ended_at
            call.spawn(self._sender.send(joined, ended_at, stt, counted=True))

    @staticmethod
    def _drop(utterance: Utterance) -> None:
        """Not to be transcribed: its recognition stops."""
        if utterance.stream is not None:
            utterance.stream.close()
        if utterance.early is not None:
            utterance.early.cancel()

    async def _more_speech(self, utterance: Utterance, until: float) -> bool:
        """Whether the caller speaks again before `until` (monotonic)."""
        while True:
            if self.speech_starts > utterance.starts_seen or not self._utterances.empty():
                return True
            left = until - self._call.clock()
            if left <= 0:
                return False
            self._speech_started.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._speech_started.wait(), left)

    def _take_early(self, pcm: bytes | None) -> asyncio.Task[str] | None:
        """The early transcript of exactly `pcm`, if one was started; any other is cancelled
        (a pending transcription then never runs)."""
        early, self._early = self._early, None
        if early is None:
            return None
        if early[0] == pcm:
            return early[1]
        early[1].cancel()
        return None

    async def _transcribe(self, utterance: Utterance) -> str:
        if utterance.stream is not None:
            try:
                return (await utterance.stream.final()).text.strip()
            except Exception as exc:  # heard live but not finished: transcribe it whole
                log.warning("call %s: live transcript failed: %s", self._call.call_id, exc)
        if utterance.early is not None:
            return await utterance.early
        return await self._transcribe_pcm(utterance.ended.pcm)

    async def _transcribe_pcm(self, pcm: bytes) -> str:
        audio = resample(pcm, self._vad_rate, self._stt.sample_rate)
        try:
            return (await self._stt.transcribe(audio, language=self._call.lang)).text.strip()
        except Exception:  # one failed transcription loses one utterance, not the call
            log.exception("call %s: transcription failed", self._call.call_id)
            return ""
