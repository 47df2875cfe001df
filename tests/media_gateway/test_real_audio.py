"""`CallSession` on real speech: Piper speaks for the bot and for the caller, Silero VAD and
Whisper listen, a real Redis carries the bot's sentences, and the phone plays it all in real
time (see `fakes.Phone`; on a speakerphone it sends the bot's own audio back, delayed and
attenuated). These are the real-audio versions of the scenarios `test_session` checks with
fake engines; the workflow side is recorded (`RecordingControl`).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import numpy as np
import pytest
from redis.asyncio import Redis

from domain.contracts import SentenceEvent
from media_gateway.echo import EchoGuard
from media_gateway.engines import Engines
from media_gateway.session import CallSession, SessionConfig
from providers.sentences.redis_stream import RedisSentenceStream
from tests.media_gateway.fakes import Phone, RecordingControl, start_session
from tests.support.engines import caller_says, real_engines

RATE = 16_000
CUTOFF_S = 0.25  # the default `vad_cutoff_timeout_ms`
ANSWER = (
    "I have found your policy. The expert will call you on Monday morning to arrange a visit "
    "of the garage."
)


@pytest.fixture(scope="module")
def engines() -> Engines:
    return real_engines(cached=True)


async def voice(text: str, speed: float = 1.0) -> bytes:
    """`text` said by the caller at the call's rate (rendered the same on every run)."""
    return await caller_says(text, RATE, speed=speed)


def pause(seconds: float) -> bytes:
    return bytes(round(seconds * RATE) * 2)


def open_session(
    redis: Redis, engines: Engines, phone: Phone, control: RecordingControl
) -> AbstractAsyncContextManager[CallSession]:
    return start_session(redis, phone, control, engines, SessionConfig())


async def bot_says(redis: Redis, session: CallSession, turn_id: int, text: str) -> None:
    event = SentenceEvent(turn_id=turn_id, kind="sentence", text=text)
    await RedisSentenceStream(redis).append(session.call_id, event)


async def play_out(phone: Phone, session: CallSession, text: str) -> None:
    """The phone stays on the line (silent) until the bot's `text` has played out."""
    speaker = session.speaker
    assert speaker is not None
    for _ in range(60):
        await phone.run(session.feed, b"", tail_s=0.5)
        if speaker.heard_text() == text and not speaker.active:
            return


async def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    """Whisper on a loaded 2-core box can take seconds per utterance."""
    for _ in range(round(timeout / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


async def test_a_phone_number_read_with_pauses_is_one_turn(redis: Redis, engines: Engines) -> None:
    # Each pause is longer than the 500 ms silence timeout, within the 1.5 s number hold.
    caller = b"".join(
        [
            pause(0.3),
            await voice("My number is zero six, twelve."),
            pause(1.0),
            await voice("thirty-four, fifty-six."),
            pause(1.0),
            await voice("seventy-eight."),
        ]
    )
    control = RecordingControl()
    phone = Phone(RATE)
    async with open_session(redis, engines, phone, control) as session:
        await phone.run(session.feed, caller, tail_s=0.6)
        await wait_for(lambda: bool(control.turns))
        await asyncio.sleep(2.5)  # the hold is over: nothing more may come
    assert len(control.turns) == 1, [t.text for _, t in control.turns]
    text = control.turns[0][1].text
    assert text.lower().startswith("my number is"), text
    assert digits(text) == "0612345678", text


async def test_the_bots_echo_stays_echo_when_the_gateway_stalls(
    redis: Redis, engines: Engines
) -> None:
    # The event loop blocks for 0.5 s every 0.7 s (a starved CPU, a long GC pause): the
    # caller's frames, echo included, arrive in bursts, long after the bot's audio played.
    async def stall() -> None:
        while True:
            await asyncio.sleep(0.7)
            time.sleep(0.5)  # noqa: ASYNC251 (the stall under test)

    phone = Phone(RATE, echo_gain=0.3, echo_delay_s=0.12)
    control = RecordingControl(last_turn_id=1)
    staller = asyncio.create_task(stall())
    try:
        async with open_session(redis, engines, phone, control) as session:
            await bot_says(redis, session, 1, ANSWER)
            await play_out(phone, session, ANSWER)
            assert not phone.stops() and not control.barge_ins and not control.turns
            assert session.listener.echo_frames > 20
            assert session.speaker is not None and session.speaker.heard_text() == ANSWER
    finally:
        staller.cancel()


async def test_the_bots_echo_is_not_the_caller_but_the_caller_over_it_is(
    redis: Redis, engines: Engines
) -> None:
    # A speakerphone: the bot's audio comes back 120 ms later at -10 dB.
    phone = Phone(RATE, echo_gain=0.3, echo_delay_s=0.12)
    control = RecordingControl(last_turn_id=1)
    request = "I would like to change my address."
    interruption = "Sorry, that is the wrong policy."
    async with open_session(redis, engines, phone, control) as session:
        # 1. The answer plays out with its echo on the line: no barge-in, nothing heard.
        await bot_says(redis, session, 1, ANSWER)
        await play_out(phone, session, ANSWER)
        assert not phone.stops() and not control.barge_ins and not control.turns
        assert session.listener.echo_frames > 20  # Silero took the echo for voice: it was there
        assert session.speaker.heard_text() == ANSWER
        # 2. The caller speaks once the bot is done: that is transcribed.
        await phone.run(session.feed, pause(0.3) + await voice(request), tail_s=0.8)
        await wait_for(lambda: len(control.turns) == 1)
        # 3. The caller speaks over the next answer and its echo: a barge-in. (The phone is on
        # the line before the answer starts, as a real one: the echo's delay stays 120 ms.)
        caller = pause(1.5) + await voice(interruption)
        line = asyncio.create_task(phone.run(session.feed, caller, tail_s=0.8))
        await bot_says(redis, session, 2, ANSWER)
        await line
        await wait_for(lambda: len(control.turns) == 2)
    heard = [turn.text.lower() for _, turn in control.turns]
    assert "address" in heard[0] and "policy" in heard[1], heard
    for text in heard:  # the bot's words never became the caller's
        assert not {"expert", "monday", "garage"} & set(re.findall(r"[a-z]+", text)), text
    (stop,) = phone.stops()
    onset = phone.speech_onsets[-1]
    assert 0 < stop - onset <= CUTOFF_S + 0.15  # not by the echo, not late
    ((_, barge_in),) = control.barge_ins
    assert barge_in.turn_id == 2
    assert barge_in.heard_text and ANSWER.startswith(barge_in.heard_text)
    assert len(barge_in.heard_text) < len(ANSWER) / 2


async def test_a_same_voice_caller_is_not_taken_for_the_echo(engines: Engines) -> None:
    """The echo test itself: the bot's delayed copy matches, other words in the same voice
    (the worst case: caller and bot both Piper's voice) do not."""
    bot = await voice(ANSWER)
    caller = await voice("Sorry, can I ask something about my claim, please?", 1.15)
    guard = EchoGuard(RATE)
    guard.played(0.0, bot)
    frame_bytes = 512 * 2
    delay = round(0.12 * RATE) * 2

    def judged(pcm: bytes, start_at: float) -> list[bool]:
        verdicts = []
        for i in range(0, len(pcm) - frame_bytes, frame_bytes):
            frame = pcm[i : i + frame_bytes]
            level = np.sqrt(np.mean(np.frombuffer(frame, dtype="<i2").astype(float) ** 2))
            end_at = start_at + (i + frame_bytes) / 2 / RATE
            if level > 300:  # what the VAD would pass on: speech, not pauses
                verdicts.append(guard.is_echo(frame, end_at))
            guard.heard(frame)
        return verdicts

    echo = (np.frombuffer(bytes(delay) + bot, dtype="<i2") * 0.3).astype("<i2").tobytes()
    echo_verdicts = judged(echo, 0.0)
    assert sum(echo_verdicts) >= 0.95 * len(echo_verdicts)
    guard = EchoGuard(RATE)
    guard.played(0.0, bot)
    caller_verdicts = judged(pause(0.5) + caller, 0.0)
    # One frame in four, judged alone and at 0.6; a few percent at most now (Piper's voice
    # varies from one rendering to the next).
    assert len(caller_verdicts) > 30 and sum(caller_verdicts) <= 0.05 * len(caller_verdicts)
