"""`CallSession`: the live audio state of one media WebSocket (listening, speaking, barge-in).

Nothing here outlives the socket: turns go to the workflow (update `user_turn`), sentences
come from the call's Redis stream, so a gateway restart loses only the audio in flight.

The session feeds the caller's audio to its parts, each with one job: `BargeInArbiter` (the
caller talking over the bot), `TurnAssembler` (utterances to turns), `TurnSender` (turns to
the workflow), `Keypad` (DTMF) and `SilenceWatch` (a silent caller); they share the live call
(`CallContext`). The session itself starts and closes them and tracks a replacement's start.

Through a gateway's death (see `media_gateway.marks`): a replacement resumes the stream after
what was *played*; a turn is resent with the same id until the workflow takes it; caller
speech cut by the death is not sent as a turn: the caller is asked to repeat it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis

from domain.contracts import UserTurn
from domain.flags import FeatureFlags
from media_gateway.amd import MachineWatch
from media_gateway.assembly import TurnAssembler
from media_gateway.bargein import BargeInArbiter
from media_gateway.call_context import CallContext, SessionConfig, gateway_phrase
from media_gateway.control import CallControl, CallView
from media_gateway.delivery import TurnSender
from media_gateway.echo import EchoGuard
from media_gateway.engines import Engines, Resampler, StreamingSpeechToText
from media_gateway.keypad import Keypad
from media_gateway.listening import (
    Listener,
    SpeechPaused,
    SpeechStarted,
    TurnDetector,
)
from media_gateway.marks import PlayedMarks, caller_was_speaking
from media_gateway.pacing import Pacer
from media_gateway.recognition import LiveRecognizer
from media_gateway.silence import SilenceWatch
from media_gateway.speaking import Frame, Send, Speaker
from media_gateway.telemetry import GatewayTelemetry, default_telemetry
from providers.sentences.redis_stream import RedisSentenceStream

__all__ = ["CallSession", "FlagsSource", "SessionConfig", "default_flags", "gateway_phrase"]

log = logging.getLogger(__name__)

FlagsSource = Callable[[], Awaitable[FeatureFlags]]

STOP_WAIT_SEC = 2.0  # a task stuck in an engine call must not keep a closed session alive
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


async def _ready(view: CallView) -> CallView:
    return view


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
        self.call = CallContext(call_id, control, self.config, self.telemetry, clock)
        vad = engines.vad()
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
            LiveRecognizer(stt, vad.sample_rate, lambda: self.call.lang, call_id=call_id)
            if isinstance(stt, StreamingSpeechToText)
            else None
        )
        if self.live is not None:
            self.detector.on_frame = self.live.frame
        self._echo_resampler = Resampler(sample_rate, vad.sample_rate)
        self.pacer: Pacer[Frame] = Pacer(clock=clock, on_late=self.telemetry.frame_late)
        self.marks: PlayedMarks | None = None
        # The parts, one job each.
        self.barge_in = BargeInArbiter(self.call, self.detector, send)
        self.sender = TurnSender(
            self.call,
            changed=self._update_hearing,
            given_up=self._say_repeat,
            after_turn=self._refresh_flags,
        )
        self.assembler = TurnAssembler(
            self.call,
            stt=stt,
            vad_rate=vad.sample_rate,
            detector=self.detector,
            barge_in=self.barge_in,
            sender=self.sender,
            changed=self._update_hearing,
            fragment_dropped=self._say_repeat,
        )
        self.keypad = Keypad(self.config.dtmf_gather_ms / 1000, self.sender.send, clock)
        self.silence = SilenceWatch(self.call)
        self._fed_s = 0.0  # caller audio received by this session
        # A replacement session: speech at the very start of its stream is a cut utterance.
        self._watch_fragment = False
        self._in_fragment = False
        self._ask_repeat = False  # the previous session died holding the caller's words
        self.amd: MachineWatch | None = None  # answering-machine detection (`amd.py`)

    # --- the call as tests and benchmarks read it ----------------------------------------

    @property
    def flags(self) -> FeatureFlags:
        return self.call.flags

    @flags.setter
    def flags(self, flags: FeatureFlags) -> None:
        self.call.flags = flags

    @property
    def lang(self) -> str:
        return self.call.lang

    @property
    def speaker(self) -> Speaker | None:
        return self.call.speaker

    @property
    def next_turn_id(self) -> int:
        return self.sender.next_turn_id

    @next_turn_id.setter
    def next_turn_id(self, turn_id: int) -> None:
        self.sender.next_turn_id = turn_id

    @property
    def turns(self) -> list[UserTurn]:
        """Sent to the workflow."""
        return self.sender.turns

    @property
    def delivering(self) -> int:
        """Turns sent, not yet taken by the workflow."""
        return self.sender.delivering

    @property
    def holds(self) -> int:
        """Hold phrases said while a turn waited for the workflow."""
        return self.sender.holds

    @property
    def fragments(self) -> int:
        """Cut utterances not sent as turns."""
        return self.assembler.fragments

    @property
    def stop_audio_at(self) -> list[float]:
        return self.barge_in.stop_audio_at

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
        self.sender.next_turn_id = call.last_turn_id + 1
        self.call.lang = call.lang
        self.call.view = call
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
        speaker = Speaker(
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
        self.call.speaker = speaker
        speaker.start()
        self.assembler.start()
        self.silence.start()
        if taken is None and call.last_turn_id == 0:  # a new outbound call may want it
            self.amd = MachineWatch.for_call(self._control, call, self.sample_rate, self.call.spawn)
            self.assembler.amd = self.amd

    async def close(self) -> None:
        if self.call.speaker is not None:
            await self.call.speaker.close()
        parts = [self.assembler.task, self.keypad.task, self.silence.task]
        tasks = [t for t in [*parts, *self.call.tasks] if t is not None]
        for task in tasks:
            task.cancel()
        self.assembler.close()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_WAIT_SEC)
        if self.live is not None:
            self.live.close()
        if self.marks is not None:
            await self.marks.close(STOP_WAIT_SEC)
        self.telemetry.close()

    async def _refresh_flags(self) -> None:
        try:
            self.call.flags = await self._flags_source()
        except Exception:  # a flag store hiccup must not break a live call
            log.warning("call %s: flags unavailable, keeping the previous ones", self.call_id)
        flags = self.call.flags
        self.listener.threshold = flags.vad_threshold
        self.detector.set_silence_ms(flags.vad_silence_timeout_ms)
        self.detector.set_adaptive(flags.adaptive_end_of_turn, flags.adaptive_silence_ms)

    def _played(self, play_at: float, frame: bytes) -> None:
        self.silence.activity()
        if self.echo is not None:
            self.echo.played(play_at, self._echo_resampler.process(frame))

    # --- listening ---------------------------------------------------------------------

    async def feed(self, pcm: bytes) -> None:
        """One inbound frame (PCM16 mono at the call's rate)."""
        received_at = self._clock()
        if self.amd is not None:
            self.amd.feed(pcm)
        self._fed_s += len(pcm) / 2 / self.sample_rate
        for event in self.listener.feed(pcm, received_at):
            if isinstance(event, SpeechStarted):
                self.silence.activity(received_at)
                self.assembler.speech_started()
                if self._watch_fragment:
                    self._watch_fragment = False
                    self._in_fragment = self._fed_s <= FRAGMENT_ONSET_SEC + self._start_s()
                stream = self.live.current if self.live is not None else None
                self.barge_in.speech_started(event.onset_at, stream)
            elif isinstance(event, SpeechPaused):
                if self.live is None and self.config.early_stt and not self._in_fragment:
                    self.assembler.paused(event.pcm)
            else:
                stream = self.live.take() if self.live is not None else None
                overlap = self.barge_in.speech_ended()
                fragment, self._in_fragment = self._in_fragment, False
                self.assembler.ended(event, overlap, stream, fragment=fragment)
        if self._watch_fragment and self._fed_s > FRAGMENT_ONSET_SEC + self._start_s():
            # The stream began in silence: no tail of a cut utterance to drop.
            self._watch_fragment = False
            if self._ask_repeat:
                self._say_repeat()
        self._update_hearing()
        await self.barge_in.check(self.listener.now)

    def dtmf(self, tone: str) -> None:
        """Keys pressed close together are one turn, "(keypad) 0612", sent when they stop."""
        self.keypad.press(tone)

    def _start_s(self) -> float:
        """How long speech takes to be declared started (its onset is that much earlier)."""
        return self.config.speech_start_ms / 1000

    def _say_repeat(self) -> None:
        """The caller's words were cut by a gateway's death: ask for them again, once."""
        self._ask_repeat = False
        self.call.say("error")

    def _update_hearing(self) -> None:
        """Whether caller speech is in this session's hands (see `media_gateway.marks`)."""
        if self.marks is None:
            return
        self.marks.set_hearing(
            self.detector.in_speech or self.assembler.busy or self.sender.delivering > 0
        )
