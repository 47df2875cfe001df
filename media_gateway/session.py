"""`CallSession`: the live audio state of one media WebSocket (listening, speaking, barge-in).

Nothing here outlives the socket: turns go to the workflow (update `user_turn`), sentences
come from the call's Redis stream, so a gateway restart loses only the audio in flight.

Through a gateway's death (see `media_gateway.marks`): a replacement resumes the stream after
what was *played*; a turn is resent with the same id until the workflow takes it; caller
speech cut by the death is not sent as a turn: the caller is asked to repeat it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from domain.contracts import BargeIn, TurnReply, UserTurn
from domain.flags import FeatureFlags
from domain.phrases import render
from media_gateway import turns
from media_gateway.bargein import Overlap
from media_gateway.control import CallControl, CallView, StaleTurnError, TurnRefusedError
from media_gateway.echo import EchoGuard
from media_gateway.engines import (
    Engines,
    Resampler,
    SpeechStream,
    StreamingSpeechToText,
    resample,
)
from media_gateway.listening import (
    Listener,
    SpeechEnded,
    SpeechPaused,
    SpeechStarted,
    TurnDetector,
)
from media_gateway.marks import PlayedMarks, caller_was_speaking
from media_gateway.pacing import Pacer
from media_gateway.protocol import stop_audio_message
from media_gateway.recognition import LiveRecognizer
from media_gateway.speaking import Send, Speaker
from media_gateway.telemetry import GatewayTelemetry, default_telemetry
from providers.sentences.redis_stream import RedisSentenceStream

log = logging.getLogger(__name__)

FlagsSource = Callable[[], Awaitable[FeatureFlags]]


SILENCE_POLL_SEC = 0.25
STOP_WAIT_SEC = 2.0  # a task stuck in an engine call must not keep a closed session alive
# A turn is resent (same id) until the workflow takes it, backing off up to a few seconds;
# after this long the utterance is given up (the workflow is away far longer than a restart).
TURN_DELIVERY_SEC = 30.0
TURN_RETRY_FIRST_SEC = 0.2
TURN_RETRY_MAX_SEC = 3.0
HOLD_AFTER_SEC = 1.5  # a turn not taken by then: "One moment, please." (once)
# A replacement resumes after what the previous session played, but never with sentences
# older than this: they were left unplayed on a line long gone (a call back hours later).
RESUME_WINDOW_MS = 120_000
# The previous session died holding the caller's words: speech this early in the new stream is
# the rest of the same utterance.
FRAGMENT_ONSET_SEC = 0.3


def _entry_key(entry_id: str) -> tuple[int, int]:
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq or 0)


async def default_flags() -> FeatureFlags:
    return FeatureFlags()


def gateway_phrase(key: str, lang: str, view: CallView | None = None) -> str:
    """A static phrase the gateway says itself, in the call's language and own wording."""
    if view is None:
        return render(key, lang, {}, bot_name="", bot_company="")
    return render(key, lang, view.phrases, bot_name=view.bot_name, bot_company=view.bot_company)


async def _ready(view: CallView) -> CallView:
    return view


@dataclass(frozen=True)
class SessionConfig:
    """Gateway tunables that are not feature flags."""

    speech_start_ms: float = 60
    pre_roll_ms: float = 200
    number_hold_ms: float = 1_500  # extra wait when the caller is mid-number or mid-spelling
    backchannel_max_ms: float = 600  # shorter overlapping speech is judged on its transcript
    # Voice the caller's speech over the bot must hold to barge in (or the whole cutoff, when
    # shorter): a cough or a click has less. Absolute, not a share of the cutoff: a long
    # cutoff must not make a short first word ("Wait, ...") wait for the next one.
    barge_in_min_voice_ms: float = 150
    echo_guard: bool = True
    echo_threshold: float = 0.6
    echo_max_lag_ms: float = 300
    # Sentences written this long before the socket connected are still spoken: the greeting
    # is often written while ACS is still opening the stream.
    catch_up_ms: int = 2_000
    dtmf_gather_ms: float = 1_500  # keys pressed within this are one turn ("(keypad) 0612")
    # Transcribe an utterance when the caller pauses (`pre_roll_ms` into the silence), not
    # when the silence timeout ends it: the transcript is mostly ready at the end of the turn.
    # A pause that is not the end costs one wasted transcription. (A streaming recogniser
    # hears the utterance live instead.)
    early_stt: bool = True


@dataclass
class _Utterance:
    ended: SpeechEnded
    overlap: Overlap | None
    starts_seen: int  # speech starts counted when it ended
    stream: SpeechStream | None = None  # heard live (a streaming recogniser)
    early: asyncio.Task[str] | None = None  # its transcript, started when the caller paused
    fragment: bool = False  # its start was said to the gateway that died


class CallSession:
    """Feed inbound frames with `feed`, DTMF with `dtmf`; bot audio goes out through `send`."""

    def __init__(
        self,
        call_id: str,
        *,
        control: CallControl,
        engines: Engines,
        redis: Redis,
        send: Send,
        sample_rate: int,
        flags: FlagsSource = default_flags,
        config: SessionConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        telemetry: GatewayTelemetry | None = None,
        media_started_at: float | None = None,
    ) -> None:
        """`media_started_at`: when the media socket was accepted (the greeting's clock)."""
        self.call_id = call_id
        self._media_started_at = media_started_at
        self._created_at = clock()
        self.telemetry = (telemetry or default_telemetry()).for_call(call_id, clock)
        self.sample_rate = sample_rate
        self.config = config or SessionConfig()
        self._control = control
        self._engines = engines
        self._redis = redis
        self._send = send
        self._flags_source = flags
        self._clock = clock
        self.flags = FeatureFlags()
        vad = engines.vad()
        self._vad_rate = vad.sample_rate
        self.echo = (
            EchoGuard(
                vad.sample_rate,
                max_lag_s=self.config.echo_max_lag_ms / 1000,
                threshold=self.config.echo_threshold,
            )
            if self.config.echo_guard
            else None
        )
        self.detector = TurnDetector(
            vad.frame_samples / vad.sample_rate,
            start_ms=self.config.speech_start_ms,
            pre_roll_ms=self.config.pre_roll_ms,
        )
        self.listener = Listener(vad, sample_rate, self.detector, self.echo)
        stt = engines.stt
        self.live = (
            LiveRecognizer(stt, vad.sample_rate, lambda: self.lang, call_id=call_id)
            if isinstance(stt, StreamingSpeechToText)
            else None
        )
        if self.live is not None:
            self.detector.on_frame = self.live.frame
        self._echo_resampler = Resampler(sample_rate, vad.sample_rate)
        self.pacer = Pacer(clock=clock, on_late=self.telemetry.frame_late)
        self.speaker: Speaker | None = None
        self.lang = "en-US"
        self._view: CallView | None = None
        self.next_turn_id = 1
        self.turns: list[UserTurn] = []  # sent to the workflow (observability, tests)
        self.stop_audio_at: list[float] = []
        self._overlap: Overlap | None = None
        self._speech_starts = 0
        self._speech_started = asyncio.Event()
        self._utterances: asyncio.Queue[_Utterance] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._assembler: asyncio.Task[None] | None = None
        self._early: tuple[bytes, asyncio.Task[str]] | None = None  # audio, its transcript
        self._keys: list[str] = []
        self._keys_task: asyncio.Task[None] | None = None
        self._last_activity = clock()  # caller speech, bot audio or a turn: not silence
        self._silence_watch: asyncio.Task[None] | None = None
        self.marks: PlayedMarks | None = None
        self._parts: list[str] = []  # transcripts held while a number is being said
        self._assembling = False  # an utterance is being transcribed or judged
        self._delivering = 0  # turns sent, not yet taken by the workflow
        self._fed_s = 0.0  # caller audio received by this session
        # A replacement session: speech at the very start of its stream is a cut utterance.
        self._watch_fragment = False
        self._in_fragment = False
        self._ask_repeat = False  # the previous session died holding the caller's words
        self.fragments = 0  # cut utterances not sent as turns (observability, tests)
        self.holds = 0  # hold phrases said while a turn waited for the workflow

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self, view: CallView | None = None) -> None:
        """Read the call (turn numbering, language), the flags and the stream position.

        `view`: the call as just read (the gateway's token check), saving a query.
        """
        sentences = RedisSentenceStream(self._redis)
        # Concurrently: the greeting waits for all of them.
        (call, (seconds, micros), taken, hearing, _) = await asyncio.gather(
            self._control.view() if view is None else _ready(view),
            self._redis.time(),
            sentences.last_taken(self.call_id),
            caller_was_speaking(self._redis, self.call_id),
            self._refresh_flags(),
        )
        self.next_turn_id = call.last_turn_id + 1
        self.lang = call.lang
        self._view = call
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        # A first connection catches up on what was written just before it (the greeting);
        # a replacement gateway starts right after what the previous one played (even some
        # time before: the caller must hear what the workflow stored as said), so the bot
        # says the first unfinished sentence and nothing twice.
        catch_up = self.config.catch_up_ms if taken is None else RESUME_WINDOW_MS
        start = f"{max(now_ms - catch_up, 0)}-0"
        if taken is not None and _entry_key(taken) > _entry_key(start):
            start = taken
        # Not "any replacement": a caller who speaks first on a new connection (a call back)
        # is heard; only a session that died mid-utterance makes the start a fragment.
        self._watch_fragment = self._ask_repeat = hearing
        self.marks = PlayedMarks(self.call_id, sentences, self._redis)
        # Saved at once when no session saved one: a replacement then resumes from here.
        self.marks.start(start, save=start != taken, was_hearing=hearing)
        if taken is None and call.last_turn_id == 0 and self._media_started_at is not None:
            # A new call: its first frame is the greeting, measured from the socket's accept.
            self.telemetry.media_started(self._media_started_at)
            self.telemetry.media_mark("session.created", self._created_at)
            self.telemetry.media_mark("session.started")
        self.speaker = Speaker(
            self.call_id,
            sentences,
            self._engines.tts,
            call_rate=self.sample_rate,
            send=self._send,
            pacer=self.pacer,
            after=start,
            marks=self.marks,
            voices=self._engines.voices,
            on_played=self._played,
            telemetry=self.telemetry,
        )
        self.speaker.start()
        self._assembler = asyncio.create_task(self._assemble())
        self._silence_watch = asyncio.create_task(self._watch_silence())

    async def close(self) -> None:
        if self.speaker is not None:
            await self.speaker.close()
        tasks = [
            t
            for t in [self._assembler, self._keys_task, self._silence_watch, *self._tasks]
            if t is not None
        ]
        self._take_early(None)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_WAIT_SEC)
        if self.live is not None:
            self.live.close()
        while not self._utterances.empty():  # not transcribed: their streams stop too
            self._drop(self._utterances.get_nowait())
        if self.marks is not None:
            await self.marks.close(STOP_WAIT_SEC)
        self.telemetry.close()

    async def _refresh_flags(self) -> None:
        try:
            self.flags = await self._flags_source()
        except Exception:  # a flag store hiccup must not break a live call
            log.warning("call %s: flags unavailable, keeping the previous ones", self.call_id)
        self.listener.threshold = self.flags.vad_threshold
        self.detector.set_silence_ms(self.flags.vad_silence_timeout_ms)

    async def _watch_silence(self) -> None:
        """Tell the workflow when the caller stays silent (it prompts, then says goodbye)."""
        while True:
            await asyncio.sleep(SILENCE_POLL_SEC)
            quiet = self._clock() - self._last_activity
            speaking = self.speaker is not None and self.speaker.active
            if quiet >= self.flags.phone_silence_timeout_sec and not speaking:
                self._last_activity = self._clock()
                try:
                    await self._control.caller_silent()
                except Exception:  # the call may be ending; the next poll tries again
                    log.warning("call %s: silence not signalled", self.call_id, exc_info=True)

    def _played(self, play_at: float, frame: bytes) -> None:
        self._last_activity = self._clock()
        if self.echo is not None:
            self.echo.played(play_at, self._echo_resampler.process(frame))

    # --- listening ---------------------------------------------------------------------

    async def feed(self, pcm: bytes) -> None:
        """One inbound frame (PCM16 mono at the call's rate)."""
        received_at = self._clock()
        self._fed_s += len(pcm) / 2 / self.sample_rate
        for event in self.listener.feed(pcm, received_at):
            if isinstance(event, SpeechStarted):
                self._last_activity = received_at
                self._speech_starts += 1
                self._speech_started.set()
                if self._watch_fragment:
                    self._watch_fragment = False
                    self._in_fragment = self._fed_s <= FRAGMENT_ONSET_SEC + self._start_s()
                if self.speaker is not None and self.speaker.active:
                    self._overlap = Overlap(event.onset_at)
                stream = self.live.current if self.live is not None else None
                if stream is not None and self._overlap is not None:
                    self._spawn(self._follow_partials(stream, self._overlap))
            elif isinstance(event, SpeechPaused):
                if self.live is None and self.config.early_stt and not self._in_fragment:
                    self._take_early(None)  # the caller spoke again since: that one is stale
                    self._early = (event.pcm, asyncio.create_task(self._transcribe_pcm(event.pcm)))
            else:
                stream = self.live.take() if self.live is not None else None
                utterance = _Utterance(event, self._overlap, self._speech_starts, stream)
                utterance.early = self._take_early(event.pcm)
                utterance.fragment, self._in_fragment = self._in_fragment, False
                self._utterances.put_nowait(utterance)
                self._overlap = None
        if self._watch_fragment and self._fed_s > FRAGMENT_ONSET_SEC + self._start_s():
            # The stream began in silence: no tail of a cut utterance to drop.
            self._watch_fragment = False
            if self._ask_repeat:
                self._say_repeat()
        self._update_hearing()
        await self._check_barge_in(self.listener.now)

    def _start_s(self) -> float:
        """How long speech takes to be declared started (its onset is that much earlier)."""
        return self.config.speech_start_ms / 1000

    def _say_repeat(self) -> None:
        """The caller's words were cut by a gateway's death: ask for them again, once."""
        self._ask_repeat = False
        if self.speaker is not None:
            self.speaker.say_now(gateway_phrase("error", self.lang, self._view), self.lang)

    def _update_hearing(self) -> None:
        """Whether caller speech is in this session's hands (see `media_gateway.marks`)."""
        if self.marks is None:
            return
        self.marks.set_hearing(
            self.detector.in_speech
            or not self._utterances.empty()
            or self._assembling
            or bool(self._parts)
            or self._delivering > 0
        )

    async def _check_barge_in(self, now: float) -> None:
        """`now`: the media clock's, as the onset's (the timer counts the caller's audio)."""
        overlap, speaker = self._overlap, self.speaker
        if overlap is None or speaker is None or not self.detector.in_speech:
            return
        voiced_s = self.detector.voiced_s
        cutoff_s = self.flags.vad_cutoff_timeout_ms / 1000
        # The cutoff is a timer from the onset (checked on every 20 ms frame, not only on
        # whole VAD frames); it runs through a short pause ("Wait, ..."), and fires once
        # enough of it was voice: a cough or a click is shorter than that.
        voiced_enough = self.detector.voice_s >= self._barge_in_voice_s()
        if overlap.stopped is None and self.detector.span_at(now) >= cutoff_s and voiced_enough:
            await self._stop_audio(overlap)
        if not overlap.confirmed and voiced_s >= self.config.backchannel_max_ms / 1000:
            if overlap.stopped is None:  # too long for a backchannel, whatever the cutoff
                await self._stop_audio(overlap)
            self._confirm(overlap)

    async def _stop_audio(self, overlap: Overlap) -> None:
        assert self.speaker is not None
        await self._send(stop_audio_message())  # first: every ms the caller hears the bot counts
        overlap.stop_sent_at = self._clock()
        self.stop_audio_at.append(overlap.stop_sent_at)
        self.telemetry.barge_in(self.speaker.turn_id, overlap.onset_at, overlap.stop_sent_at)
        overlap.stopped = await self.speaker.stop()

    async def _follow_partials(self, stream: SpeechStream, overlap: Overlap) -> None:
        """Words (not a backchannel, nor its start) heard over the bot: a real interruption,
        confirmed now rather than at the end of the utterance."""
        async for text in stream.partials():
            if overlap.confirmed:
                return
            if turns.may_be_backchannel(text):
                continue
            if overlap.stopped is None:
                await self._stop_audio(overlap)
            if not overlap.confirmed:
                self._confirm(overlap)
            return

    def _confirm(self, overlap: Overlap) -> None:
        """A real interruption: drop the rest of the answer and tell the workflow."""
        assert self.speaker is not None
        overlap.confirmed = True
        cut = overlap.stopped
        if cut is None:
            return
        self.speaker.drop(cut.turn_id)
        event = BargeIn(turn_id=cut.turn_id, heard_text=cut.heard) if cut.turn_id >= 0 else None
        if event is not None:
            overlap.signal = self._spawn(self._control.barge_in(event))

    def _resume(self, overlap: Overlap) -> None:
        """A false interruption (backchannel, noise): say the rest."""
        assert self.speaker is not None
        if overlap.stopped is not None:
            self.speaker.resume(overlap.stopped)
        overlap.confirmed = True

    # --- turns -------------------------------------------------------------------------

    async def _assemble(self) -> None:
        """Utterances → transcripts → turns, holding a turn while a number is being said."""
        while True:
            self._assembling = False
            self._update_hearing()
            utterance = await self._utterances.get()
            self._assembling = True
            if utterance.fragment:
                # The gateway before this one heard its start: as a turn of its own it would
                # be answered as something the caller never said.
                log.info(
                    "call %s: a cut utterance dropped; the caller is asked again", self.call_id
                )
                self.fragments += 1
                self._drop(utterance)
                self._say_repeat()
                continue
            if self._too_little_voice(utterance):
                self._drop(utterance)
                continue
            stt_started = self._clock()
            text = await self._transcribe(utterance)
            stt = (stt_started, self._clock())
            self.telemetry.stt_done(*stt)
            overlap = utterance.overlap
            if overlap is not None and not overlap.confirmed:
                speech_s = utterance.ended.speech_s
                if turns.is_backchannel(text) or turns.implausible(text, speech_s):
                    self._resume(overlap)
                    continue
                if overlap.stopped is None:
                    await self._stop_audio(overlap)
                self._confirm(overlap)
            if not text.strip():
                continue
            self._parts.append(text)
            joined = turns.join(self._parts)
            # The extra wait starts where the silence timeout ended.
            hold_ms = self.flags.vad_silence_timeout_ms + self.config.number_hold_ms
            hold_until = utterance.ended.ended_at + hold_ms / 1000
            if turns.unfinished(joined) and await self._more_speech(utterance, hold_until):
                continue
            self._parts = []
            if overlap is not None and overlap.signal is not None:
                await asyncio.gather(overlap.signal, return_exceptions=True)
            self._delivering += 1  # counted before the assembler looks idle
            self._spawn(self._send_turn(joined, utterance.ended.ended_at, stt, counted=True))

    @staticmethod
    def _drop(utterance: _Utterance) -> None:
        """Not to be transcribed: its recognition stops."""
        if utterance.stream is not None:
            utterance.stream.close()
        if utterance.early is not None:
            utterance.early.cancel()

    def _too_little_voice(self, utterance: _Utterance) -> bool:
        """Over the bot, less voice than a barge-in needs: a cough, a click, or echo frames
        the guard missed (their words are in the utterance's audio: not worth a transcript)."""
        overlap = utterance.overlap
        if overlap is None or overlap.stopped is not None or overlap.confirmed:
            return False
        return utterance.ended.voice_s < self._barge_in_voice_s()

    def _barge_in_voice_s(self) -> float:
        """How much voice speech over the bot needs to stop it."""
        return min(self.config.barge_in_min_voice_ms, self.flags.vad_cutoff_timeout_ms) / 1000

    async def _more_speech(self, utterance: _Utterance, until: float) -> bool:
        """Whether the caller speaks again before `until` (monotonic)."""
        while True:
            if self._speech_starts > utterance.starts_seen or not self._utterances.empty():
                return True
            left = until - self._clock()
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

    async def _transcribe(self, utterance: _Utterance) -> str:
        if utterance.stream is not None:
            try:
                return (await utterance.stream.final()).text.strip()
            except Exception as exc:  # heard live but not finished: transcribe it whole
                log.warning("call %s: live transcript failed: %s", self.call_id, exc)
        if utterance.early is not None:
            return await utterance.early
        return await self._transcribe_pcm(utterance.ended.pcm)

    async def _transcribe_pcm(self, pcm: bytes) -> str:
        stt = self._engines.stt
        audio = resample(pcm, self._vad_rate, stt.sample_rate)
        try:
            return (await stt.transcribe(audio, language=self.lang)).text.strip()
        except Exception:  # one failed transcription loses one utterance, not the call
            log.exception("call %s: transcription failed", self.call_id)
            return ""

    async def _send_turn(
        self,
        text: str,
        ended_at: float,
        stt: tuple[float, float] | None = None,
        *,
        counted: bool = False,
    ) -> None:
        """`counted`: the caller already counted it in `_delivering` (turns not taken yet)."""
        taken = asyncio.Event()
        if not counted:
            self._delivering += 1

        def on_taken() -> None:
            # The workflow holds the caller's words from here: a gateway death now loses none.
            if not taken.is_set():
                taken.set()
                self._delivering -= 1
                self._update_hearing()

        hold = asyncio.create_task(self._hold(taken))
        closing = False
        try:
            await self._send_numbered(text, ended_at, stt, on_taken)
        except asyncio.CancelledError:
            # The socket closed with the words not taken: the hearing flag stays up, so the
            # replacement asks the caller for them again.
            closing = True
            raise
        finally:
            hold.cancel()
            if not closing:
                on_taken()
        await self._refresh_flags()

    async def _send_numbered(
        self,
        text: str,
        ended_at: float,
        stt: tuple[float, float] | None,
        on_taken: Callable[[], None],
    ) -> None:
        ended = datetime.now(UTC) - timedelta(seconds=max(self._clock() - ended_at, 0.0))
        for attempt in range(2):
            turn = UserTurn(
                text=text, turn_id=self.next_turn_id, channel="voice", speech_ended_at=ended
            )
            self.next_turn_id += 1
            self.turns.append(turn)
            self.telemetry.turn_sent(self.next_turn_id - 1, ended_at, stt)
            try:
                reply = await self._deliver(turn, on_taken)
                if reply is not None and "speech_lang" in reply.tool_calls:
                    await self._refresh_lang()
                return
            except StaleTurnError:
                if attempt:
                    raise
                # The workflow moved on (a chat turn, another gateway): renumber once.
                self.next_turn_id = max(
                    self.next_turn_id, (await self._control.view()).last_turn_id + 1
                )

    async def _deliver(self, turn: UserTurn, on_taken: Callable[[], None]) -> TurnReply | None:
        """Send `turn` until the workflow takes it: the same id every time (its update id is
        derived from it, so a resend of a turn already applied returns the first outcome)."""
        deadline = self._clock() + TURN_DELIVERY_SEC
        delay = TURN_RETRY_FIRST_SEC
        resent = False
        while True:
            try:
                return await self._control.user_turn(turn, accepted=on_taken)
            except StaleTurnError:
                if not resent:
                    raise
                # An earlier send may have been applied, its outcome forgotten since (the
                # history was rotated): it was this turn, not to be sent again.
                log.warning("call %s: turn %s was applied before", self.call_id, turn.turn_id)
                return None
            except TurnRefusedError:
                raise
            except Exception as exc:  # outcome unknown: Temporal away, no worker, a timeout
                if self._clock() + delay > deadline:
                    self._say_repeat()  # given up: the caller must not wait for an answer
                    raise
                log.warning(
                    "call %s: turn %s not delivered (%s: %s); sending it again",
                    self.call_id, turn.turn_id, type(exc).__name__, exc,
                )  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, TURN_RETRY_MAX_SEC)
                resent = True

    async def _hold(self, taken: asyncio.Event) -> None:
        """The workflow has not taken the turn after `HOLD_AFTER_SEC`: a hold phrase, once."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(taken.wait(), HOLD_AFTER_SEC)
            return
        if self.speaker is not None:
            self.holds += 1
            self.speaker.say_now(gateway_phrase("hold", self.lang, self._view), self.lang)

    async def _refresh_lang(self) -> None:
        """The bot switched language: the caller is heard in the new one from now on."""
        try:
            self.lang = (await self._control.view()).lang
        except Exception:  # the next turn is heard in the old language; the call goes on
            log.warning("call %s: language not refreshed", self.call_id, exc_info=True)

    # --- keypad ------------------------------------------------------------------------

    def dtmf(self, tone: str) -> None:
        """Keys pressed close together are one turn, "(keypad) 0612", sent when they stop."""
        self._keys.append(tone)
        if self._keys_task is not None:
            self._keys_task.cancel()
        self._keys_task = asyncio.create_task(self._send_keys())

    async def _send_keys(self) -> None:
        await asyncio.sleep(self.config.dtmf_gather_ms / 1000)
        keys, self._keys = "".join(self._keys), []
        await self._send_turn(f"(keypad) {keys}", self._clock())

    def _spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("call %s: workflow call failed", self.call_id)

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
