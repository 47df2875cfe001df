"""What the parts of a `CallSession` share: the call, its language and flags, the speaker.

Each part (barge-in arbitration, turn assembly, turn sending, keypad, silence watch) has one
job and reads the live call from here, so none of them reaches into another.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from domain.flags import FeatureFlags
from domain.phrases import render
from media_gateway.control import CallControl, CallView
from media_gateway.speaking import Speaker
from media_gateway.telemetry import CallTelemetry

log = logging.getLogger(__name__)


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


def gateway_phrase(key: str, lang: str, view: CallView | None = None) -> str:
    """A static phrase the gateway says itself, in the call's language and own wording."""
    if view is None:
        return render(key, lang, {}, bot_name="", bot_company="")
    return render(key, lang, view.phrases, bot_name=view.bot_name, bot_company=view.bot_company)


@dataclass
class CallContext:
    """The live call as every part of its session sees it."""

    call_id: str
    control: CallControl
    config: SessionConfig
    telemetry: CallTelemetry
    clock: Callable[[], float]
    flags: FeatureFlags = field(default_factory=FeatureFlags)
    lang: str = "en-US"
    view: CallView | None = None  # read when the session started
    speaker: Speaker | None = None  # from the start on
    tasks: set[asyncio.Task[None]] = field(default_factory=set)  # `spawn`ed, cancelled at close

    def speaking(self) -> bool:
        """Bot audio is playing or about to."""
        return self.speaker is not None and self.speaker.active

    def say(self, key: str) -> None:
        """A phrase of the gateway's own (hold, repeat), next in line."""
        if self.speaker is not None:
            self.speaker.say_now(gateway_phrase(key, self.lang, self.view), self.lang)

    def spawn(self, coro: Awaitable[None]) -> asyncio.Task[None]:
        """A workflow call in the background: its failure is logged, not raised."""

        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("call %s: workflow call failed", self.call_id)

        task = asyncio.create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task
