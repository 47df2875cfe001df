"""Live recognition: a streaming recogniser hears the caller while they speak.

The session with a scripted streaming engine (`fakes.StreamingStt`: partial words as audio is
pushed) and a real Redis, in real time; then with the real Azure Speech SDK, which offline can
only fail to connect, and must not take the call down when it does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from domain.call import CallStatus
from domain.contracts import TurnReply, UserTurn
from media_gateway.control import CallView
from media_gateway.session import SessionConfig
from providers.speech.azure_stt import AzureStt
from tests.media_gateway.fakes import (
    Phone,
    RecordingControl,
    StreamingStt,
    timeline,
)
from tests.media_gateway.test_session import WORDS, open_session, say, wait_for
from tests.speech.test_azure_speech import UNREACHABLE, needs_sdk

RATE = 16_000


async def test_the_turn_is_the_live_transcript_in_the_calls_language(redis: Redis) -> None:
    control = RecordingControl(lang="fr-FR")
    phone = Phone(RATE)
    stt = StreamingStt(["J'ai eu un accident."])
    async with open_session(redis, phone, stt, control) as session:
        assert session.live is not None
        await phone.run(session.feed, timeline(RATE, ("silence", 0.3), ("speech", 1.0)), tail_s=0.9)
        speech_end = phone.speech_onsets[0] + 1.0
        await wait_for(lambda: bool(control.turns))
    ((at, turn),) = control.turns
    assert turn.text == "J'ai eu un accident."
    (stream,) = stt.streams
    assert stream.language == "fr-FR" and stream.finalised and not stream.closed
    # Heard live from the pre-roll to the end of the silence timeout; never transcribed whole.
    assert 1.5 <= stream.pushed_s <= 1.9
    assert stt.durations == []
    assert 0.45 <= at - speech_end <= 0.65  # the silence timeout, nothing to wait for after it


async def test_partial_words_confirm_a_barge_in_before_the_caller_has_finished(
    redis: Redis,
) -> None:
    control = RecordingControl(last_turn_id=3)
    phone = Phone(RATE)
    stt = StreamingStt(["Stop, my address is not the right one."])
    # Without partials a barge-in is confirmed by its length (here 1.5 s) or its transcript.
    config = SessionConfig(backchannel_max_ms=1_500)
    async with open_session(redis, phone, stt, control, config) as session:
        await say(redis, session, 3, WORDS)
        audio = timeline(RATE, ("silence", 1.0), ("speech", 2.0))
        await phone.run(session.feed, audio, tail_s=0.8)
        await wait_for(lambda: bool(control.turns))
    onset = phone.speech_onsets[0]
    (stop_at,) = phone.stops()
    assert stop_at - onset <= 0.25 + 0.05  # the cutoff, as always
    ((signalled_at, event),) = control.barge_ins
    assert event.turn_id == 3 and event.heard_text.startswith("w0")
    # The first partial word ("Stop,") came ~0.45 s into the speech: confirmed then.
    assert signalled_at - onset < 0.9
    assert control.turns[0][1].text == "Stop, my address is not the right one."


async def test_a_backchannel_heard_live_does_not_interrupt(redis: Redis) -> None:
    control = RecordingControl()
    phone = Phone(RATE)
    stt = StreamingStt(["Okay."])
    async with open_session(redis, phone, stt, control) as session:
        await say(redis, session, 0, "one two three four five six seven eight nine ten")
        audio = timeline(RATE, ("silence", 0.6), ("speech", 0.45), ("silence", 0.3))
        await phone.run(session.feed, audio, tail_s=2.5)
    assert len(phone.stops()) == 1  # stopped at the cutoff, then resumed
    assert not control.barge_ins and not control.turns
    assert session.speaker is not None
    assert session.speaker.heard_text() == "one two three four five six seven eight nine ten"


async def test_a_failed_stream_falls_back_to_transcribing_the_utterance(redis: Redis) -> None:
    control = RecordingControl()
    phone = Phone(RATE)
    stt = StreamingStt(["never finished"], fallback=["I had a car accident."], fail_after_s=0.6)
    async with open_session(redis, phone, stt, control) as session:
        await phone.run(session.feed, timeline(RATE, ("silence", 0.3), ("speech", 1.0)), tail_s=0.9)
        await wait_for(lambda: bool(control.turns))
    assert [t.text for _, t in control.turns] == ["I had a car accident."]
    (stream,) = stt.streams
    assert stream.closed and not stream.finalised
    # Transcribed whole: 200 ms of pre-roll, the 1 s of speech, 200 ms of its silence.
    assert len(stt.durations) == 1 and 1.3 <= stt.durations[0] <= 1.5


@dataclass
class SwitchingControl(RecordingControl):
    """The bot answers the first turn with `speech_lang`: the call goes on in French."""

    async def user_turn(
        self, turn: UserTurn, accepted: Callable[[], None] | None = None
    ) -> TurnReply | None:
        await super().user_turn(turn, accepted)
        self.lang = "fr-FR"
        return TurnReply(
            turn_id=turn.turn_id or 0,
            text="Je vous écoute.",
            tool_calls=["speech_lang"],
            status=CallStatus.IN_PROGRESS,
        )

    async def view(self) -> CallView:
        return CallView(last_turn_id=self.last_turn_id, lang=self.lang)


async def test_after_the_bot_switches_language_the_caller_is_heard_in_it(redis: Redis) -> None:
    control = SwitchingControl()
    phone = Phone(RATE)
    stt = StreamingStt(["Can we speak French?", "Oui, merci."])
    async with open_session(redis, phone, stt, control) as session:
        audio = timeline(RATE, ("silence", 0.3), ("speech", 0.8), ("silence", 1.2), ("speech", 0.6))
        await phone.run(session.feed, audio, tail_s=0.9)
        await wait_for(lambda: len(control.turns) == 2)
    assert [s.language for s in stt.streams] == ["en-US", "fr-FR"]
    assert session.lang == "fr-FR"


@needs_sdk
@pytest.mark.timeout(40)
async def test_azure_speech_unreachable_loses_the_utterance_not_the_call(redis: Redis) -> None:
    control = RecordingControl()
    phone = Phone(RATE)
    stt = AzureStt("not-a-key", endpoint=UNREACHABLE, timeout_s=3.0)
    async with open_session(redis, phone, stt, control) as session:
        assert session.live is not None  # Azure streams: each utterance is heard live
        await phone.run(session.feed, timeline(RATE, ("silence", 0.3), ("speech", 1.0)), tail_s=0.9)
        # Live recognition fails, then the whole-utterance fallback: no turn, nothing raised.
        await asyncio.sleep(4.0)
        assert not control.turns
        # The call goes on: the bot still speaks, and the caller is still listened to.
        await say(redis, session, 0, "one two three")
        await phone.run(session.feed, b"", tail_s=1.0)
        await phone.run(session.feed, timeline(RATE, ("speech", 0.5)), tail_s=0.3)
        assert session.detector.in_speech  # the second utterance is being heard
    assert len(phone.audio_frames()) == 30  # 3 words of 200 ms, all of them
    assert not phone.stops()
