"""Speaking: the call's sentence stream → TTS → call-rate 20 ms frames → paced to ACS.

Synthesis runs ahead of playback (its own task), so the next sentence is ready when the
current one ends. Every sentence counts the frames it produced and the frames actually sent:
that is what the caller heard, down to the word (approximately, by duration), at any time.

A sentence is settled in `PlayedMarks` when its last frame is sent (or when it will never be
played): the position a replacement gateway resumes from is what was played, not what was
read. A sentence key (turn, iteration, index) plays at most once per session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from domain.contracts import SentenceEvent
from media_gateway.engines import (
    ExpressiveTextToSpeech,
    Resampler,
    TextToSpeech,
    speaks_styles,
)
from media_gateway.marks import PlayedMarks
from media_gateway.pacing import Pacer
from media_gateway.protocol import audio_message
from media_gateway.telemetry import CallTelemetry, default_telemetry
from providers.sentences.redis_stream import RedisSentenceStream

STOP_WAIT_SEC = 1.0  # cancelled workers get this long to finish
SLICE_S = 0.1  # TTS audio resampled per step before the player gets a turn

log = logging.getLogger(__name__)

Send = Callable[[str], Awaitable[None]]
OnPlayed = Callable[[float, bytes], None]


@dataclass
class Spoken:
    """One sentence on its way to the caller."""

    turn_id: int
    text: str
    lang: str = "en-US"
    rate: float = 1.0
    style: str = "none"  # how an expressive voice says it (Azure express-as)
    frames: int = 0  # synthesised so far
    sent: int = 0  # sent to ACS
    synthesised: bool = False
    local: bool = False  # a gateway phrase (hold, repeat): not part of an answer
    received_at: float | None = None  # read from the stream (telemetry; None when resumed)
    entry_id: str | None = None  # its stream entry; None: a phrase of the gateway's own

    def _heard_words(self) -> int:
        words = self.text.split()
        if self.sent == 0:
            return 0
        if self.synthesised and self.sent >= self.frames:
            return len(words)
        return min(len(words), int(len(words) * self.sent / max(self.frames, 1)))

    def heard(self) -> str:
        return " ".join(self.text.split()[: self._heard_words()])

    def rest(self) -> str:
        return " ".join(self.text.split()[self._heard_words() :])


Frame = tuple[Spoken, bytes]  # one 20 ms frame of a sentence, queued on the pacer


@dataclass
class Interruption:
    """What a stop left: the turn, what was heard, and what was not said yet."""

    turn_id: int
    heard: str
    rest: list[Spoken] = field(default_factory=list)


def _stop_if_cancelled() -> None:
    """redis-py (8.2) can swallow a cancel that lands while it takes a connection, and return
    or raise as if nothing happened: a loop around it would keep a closed session's reader,
    and its connection, for ever. Found by tests/media_gateway/test_gateway_fuzz.py."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Speaker:
    """Reads the sentence stream from `after` and plays it; `stop` / `resume` / `drop`."""

    def __init__(
        self,
        call_id: str,
        sentences: RedisSentenceStream,
        tts: TextToSpeech,
        *,
        call_rate: int,
        send: Send,
        pacer: Pacer[Frame],
        after: str,
        marks: PlayedMarks | None = None,
        voices: Mapping[str, str] | None = None,
        on_played: OnPlayed | None = None,
        block_ms: int = 1_000,
        telemetry: CallTelemetry | None = None,
    ) -> None:
        self.call_id = call_id
        self._sentences = sentences
        self._tts = tts
        self._call_rate = call_rate
        self._frame_bytes = round(call_rate * pacer.frame_s) * 2
        self.pacer = pacer
        pacer.attach(send, self._sent)  # frames go out on the process's pacing clock
        self.position = after
        self.marks = marks
        self._keys: set[tuple[int, int, int, str]] = set()  # sentence keys read this session
        self._stopped: list[Spoken] = []  # what the last stop left unsaid
        self._voices = voices or {}
        self._on_played = on_played
        self._block_ms = block_ms
        self._telemetry = telemetry or default_telemetry().for_call(call_id)
        self._pending: deque[Spoken] = deque()
        self._wake = asyncio.Event()
        self._in_flight: list[Spoken] = []  # synthesis started, not all sent
        self._history: list[Spoken] = []  # sentences of `turn_id` that played (in part)
        self._dropped_turn = -1
        self.turn_id = -1  # turn of the audio last sent
        self.frames_sent = 0
        self._reader: asyncio.Task[None] | None = None
        self._workers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._reader = asyncio.create_task(self._read())
        self._start_workers()

    async def close(self) -> None:
        self.pacer.close()
        tasks = [t for t in [self._reader, *self._workers] if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_WAIT_SEC)

    @property
    def active(self) -> bool:
        """Bot audio is playing or about to (between sentences of an answer included)."""
        return self.pacer.playing() or bool(self._in_flight) or bool(self._pending)

    def heard_text(self) -> str:
        """What the caller heard of the turn being spoken."""
        return " ".join(h for s in self._history if (h := s.heard()))

    async def stop(self) -> Interruption:
        """Stop at once: drop queued audio and synthesis; keep what was not said for `resume`."""
        # First, before any await: the pacing clock must not send another frame.
        dropped = self.pacer.reset()
        workers, self._workers = self._workers, []
        for task in workers:
            task.cancel()
        if workers:
            # Bounded: a worker stuck in an engine call must not hold the barge-in back.
            await asyncio.wait(workers, timeout=STOP_WAIT_SEC)
        self._telemetry.frames_dropped(dropped + self.pacer.reset())
        turn_id = self.turn_id
        rest = []
        for s in [*self._in_flight, *self._pending]:
            text = s.rest()
            if text:
                rest.append(
                    Spoken(
                        s.turn_id,
                        text,
                        s.lang,
                        s.rate,
                        s.style,
                        entry_id=s.entry_id,
                        local=s.local,
                    )
                )
            else:  # every frame of it went out
                self._settle(s)
        self._in_flight.clear()
        self._pending.clear()
        self._stopped = rest
        return Interruption(turn_id, self.heard_text(), rest)

    def resume(self, interruption: Interruption) -> None:
        """A false interruption: say what was not said yet, then go on."""
        self._stopped = []
        self._pending.extendleft(reversed(interruption.rest))
        self._start_workers()
        self._wake.set()

    def drop(self, turn_id: int) -> None:
        """A real interruption: nothing more of this turn is spoken, even if it still arrives.

        Its sentences are settled: a replacement gateway must not say them either. What the
        stop left of later turns is still said."""
        self._dropped_turn = max(self._dropped_turn, turn_id)
        later = [s for s in self._stopped if s.turn_id > turn_id]
        self._stopped = []
        self._pending = deque([*later, *(s for s in self._pending if s.turn_id > turn_id)])
        if self.marks is not None:
            self.marks.settle_turn(turn_id)
        self._start_workers()
        self._wake.set()

    def say_now(self, text: str, lang: str) -> None:
        """A phrase of the gateway's own (not in the stream, not part of any turn's answer):
        next in line, even while a dropped turn's sentences still arrive."""
        self._pending.appendleft(Spoken(-1, text, lang, local=True))
        self._start_workers()
        self._wake.set()

    def _settle(self, sentence: Spoken) -> None:
        if self.marks is not None:
            self.marks.settle(sentence.entry_id)

    def _skip(self, entry_id: str, event: SentenceEvent) -> bool:
        """Whether this entry is not to be played: nothing to say, a dropped turn, or a
        sentence key this session already read (a retried LLM iteration's re-append)."""
        if event.kind == "end" or not event.text.strip() or event.turn_id <= self._dropped_turn:
            return True
        # With its text: a writer that does not number its entries (index 0 by default: an
        # older activity during a deploy) must not make two different sentences one.
        key = (event.turn_id, event.iteration, event.index, event.text)
        if key in self._keys:
            log.info("call %s: entry %s repeats sentence %s: skipped", self.call_id, entry_id, key)
            return True
        self._keys.add(key)
        return False

    def _start_workers(self) -> None:
        if not self._workers:
            self._workers = [asyncio.create_task(self._synthesise())]

    async def _read(self) -> None:
        while True:
            try:
                found = await self._sentences.read(
                    self.call_id, after=self.position, block_ms=self._block_ms, count=50
                )
            except RedisError as exc:
                _stop_if_cancelled()
                log.warning("call %s: sentence stream read failed: %s", self.call_id, exc)
                await asyncio.sleep(0.5)
                continue
            _stop_if_cancelled()
            for entry_id, event in found:
                self.position = entry_id
                if self.marks is not None:
                    self.marks.read(entry_id, event.turn_id)
                if self._skip(entry_id, event):
                    if self.marks is not None:
                        self.marks.settle(entry_id)
                    continue
                at = self._telemetry.sentence_read(event.turn_id)
                spoken = Spoken(event.turn_id, event.text, event.lang, event.rate, event.style)
                spoken.received_at = at
                spoken.entry_id = entry_id
                self._pending.append(spoken)
                self._wake.set()

    async def _synthesise(self) -> None:
        while True:
            while not self._pending:
                self._wake.clear()
                await self._wake.wait()
            sentence = self._pending.popleft()
            if sentence.turn_id <= self._dropped_turn and not sentence.local:
                self._settle(sentence)
                continue
            self._in_flight.append(sentence)
            resampler = Resampler(self._tts.sample_rate, self._call_rate)
            slice_bytes = round(self._tts.sample_rate * SLICE_S) * 2
            buffer = b""
            voice = self._voices.get(sentence.lang)
            received_at = sentence.received_at
            async for chunk in self._speak(sentence, voice):
                if received_at is not None:  # the first chunk only
                    self._telemetry.first_audio(sentence.turn_id, received_at)
                    received_at = None
                # A cached phrase or a long sentence comes as one big chunk: resample it in
                # slices and let the player send each one's frames at once.
                for i in range(0, len(chunk), slice_bytes):
                    buffer += resampler.process(chunk[i : i + slice_bytes])
                    buffer = self._queue_frames(sentence, buffer)
                    await asyncio.sleep(0)
            buffer += resampler.flush()
            if len(buffer) % self._frame_bytes:
                buffer += bytes(self._frame_bytes - len(buffer) % self._frame_bytes)
            self._queue_frames(sentence, buffer)
            sentence.synthesised = True
            if sentence.sent >= sentence.frames:  # no audio, or all of it sent already
                with contextlib.suppress(ValueError):
                    self._in_flight.remove(sentence)
                self._settle(sentence)

    def _speak(self, sentence: Spoken, voice: str | None) -> AsyncIterator[bytes]:
        tts = self._tts
        if isinstance(tts, ExpressiveTextToSpeech) and speaks_styles(tts):
            return tts.synthesize(
                sentence.text,
                voice=voice,
                rate=sentence.rate,
                lang=sentence.lang,
                style=sentence.style,
            )
        return tts.synthesize(sentence.text, voice=voice, rate=sentence.rate)

    def _queue_frames(self, sentence: Spoken, buffer: bytes) -> bytes:
        size = self._frame_bytes
        whole = len(buffer) - len(buffer) % size
        for i in range(0, whole, size):
            sentence.frames += 1  # first: the pacer may send it at once
            frame = buffer[i : i + size]
            self.pacer.push(audio_message(frame), (sentence, frame))
        return buffer[whole:]

    def _sent(self, item: Frame, play_at: float) -> None:
        """The pacer sent this frame (it plays at `play_at`)."""
        sentence, frame = item
        if sentence.local:
            pass  # not part of any answer: neither its turn nor what was heard of it
        elif sentence.turn_id != self.turn_id:
            self.turn_id = sentence.turn_id
            self._history = [sentence]
        elif sentence.sent == 0:
            self._history.append(sentence)
        if sentence.sent == 0:  # the turn's first frame ends its span; cheap when not
            self._telemetry.frame_sent(sentence.turn_id)
        sentence.sent += 1
        self.frames_sent += 1
        if self._on_played is not None:
            self._on_played(play_at, frame)
        if sentence.synthesised and sentence.sent >= sentence.frames:
            with contextlib.suppress(ValueError):
                self._in_flight.remove(sentence)
            # Its last frame is out (played within the pacer's 60 ms lead): a replacement
            # gateway starts after it.
            self._settle(sentence)
