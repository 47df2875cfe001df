"""Turn taking on real audio through the whole phone stack: barge-in, backchannels, silence.

API over HTTP, the dev server, the worker, the scripted LLM, the ACS emulator's phone and the
media gateway with Silero VAD, Whisper and Piper (`test_phone_calls.open_phone`). The caller's
words are synthesised by Piper at test time and streamed by the phone in real time; what the
caller heard is the bot audio the phone received, transcribed again by Whisper.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from acs_emulator.models import CallRecord
from media_gateway.app import SESSIONS
from media_gateway.engines import Engines
from providers.flags.redis_flags import RedisFlags
from providers.speech.audio import resample
from scripted_llm.script import ScriptedReply
from tests.support.engines import caller_says, real_engines
from tests.telephony.test_phone_calls import ONE_LANGUAGE, Phone
from tests.telephony.test_phone_calls import spoken as spoken  # noqa: F401 - the phone fixture

RATE = 16_000
ANSWER = (
    "I am sorry to hear that. I have found your policy and your claim. "
    "The garage sent us the estimate. An expert will call you on Monday. "
    "Please keep the receipts of the repair."
)


@pytest.fixture(scope="module")
def engines() -> Engines:
    return real_engines(cached=True)


async def voice(text: str) -> bytes:
    """`text` said by the caller at the call's rate (rendered the same on every run)."""
    return await caller_says(text, RATE)


async def frames_received(phone: Phone, connection_id: str) -> int:
    return (await phone.phones.call(connection_id)).media.audio_frames_received


async def until(
    check: Callable[[], Any],
    timeout: float = 30.0,
    every: float = 0.05,
    why: Callable[[], str] = lambda: "",
) -> Any:
    """Poll `check` (sync or async) until it returns something truthy; `why` explains a miss."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s {why()}")
        await asyncio.sleep(every)


async def bot_quiet(
    phone: Phone, connection_id: str, quiet_s: float = 0.8, timeout: float = 30.0
) -> None:
    """Wait until the phone has received no bot audio for `quiet_s`."""
    last, since = -1, time.monotonic()
    deadline = since + timeout
    while time.monotonic() < deadline:
        count = await frames_received(phone, connection_id)
        if count != last:
            last, since = count, time.monotonic()
        elif count and time.monotonic() - since >= quiet_s:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the bot was still speaking after {timeout} s")


async def answered_call(
    phone: Phone, engines: Engines, *replies: ScriptedReply
) -> tuple[str, str, int]:
    """A connected call whose greeting was heard, and whose caller said their first sentence;
    with the count of bot frames the phone had received by then (the greeting)."""
    call_id = await phone.call(lang=ONE_LANGUAGE)
    connection_id = await phone.connection(call_id)
    phone.llm.state.add(*replies, user=call_id)
    await until(lambda: frames_received(phone, connection_id))
    await bot_quiet(phone, connection_id)
    greeting = await frames_received(phone, connection_id)
    await phone.phones.play_audio(connection_id, await voice("My car was stolen yesterday."), RATE)
    return call_id, connection_id, greeting


async def bot_audio_beyond(phone: Phone, connection_id: str, base: int, seconds: float) -> None:
    """Wait until the phone has received `seconds` of bot audio more than `base` frames."""

    async def enough() -> bool:
        return await frames_received(phone, connection_id) >= base + round(seconds * 50)

    await until(enough, why=lambda: f"(the gateway sent these turns: {gateway_turns(phone)})")


def gateway_turns(phone: Phone) -> list[str]:
    """What the gateway heard and sent as turns (its sessions' record)."""
    return [
        turn.text
        for sessions in phone.gateway[SESSIONS].values()
        for session in sessions
        if session.call is not None
        for turn in session.call.turns
    ]


def human_turns(state: dict[str, Any]) -> list[str]:
    return [m["content"] for m in state["messages"] if m["persona"] == "human" and m["content"]]


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


async def heard_by_caller(phone: Phone, engines: Engines, connection_id: str) -> str:
    pcm, rate = await phone.phones.received_audio(connection_id)
    text = (await engines.stt.transcribe(resample(pcm, rate, RATE), language="en-US")).text
    return text.lower()


async def test_a_barge_in_mid_answer_stops_the_audio_and_keeps_only_what_was_heard(
    spoken: Phone, engines: Engines
) -> None:
    # The answer streams slowly (the model is still writing it when the caller speaks), so
    # the workflow cancels the LLM activity and stores what the caller heard of it.
    slow = ScriptedReply(text=ANSWER, chunk_chars=12, chunk_delay_s=0.25)
    call_id, connection_id, greeting = await answered_call(
        spoken, engines, slow, ScriptedReply(text="Of course, go ahead.")
    )
    interruption = await voice("Wait, I did not understand that.")
    await bot_audio_beyond(spoken, connection_id, greeting, 3.0)
    await spoken.phones.play_audio(connection_id, interruption, RATE)

    record: CallRecord = await until(
        lambda: _stopped(spoken, connection_id), timeout=10, every=0.02
    )
    state = await until(lambda: _turns(spoken, call_id, 2))
    turns = human_turns(state)
    assert "car" in turns[0].lower() and "understand" in turns[1].lower(), turns
    answers = [m for m in state["messages"] if m["persona"] == "assistant" and m["turn_id"] == 1]
    assert len(answers) == 1, answers
    stored = answers[0]["content"]
    # A true prefix of the answer: what had been played when the caller spoke (3 s and the
    # cutoff), never the sentences after it.
    assert stored and ANSWER.startswith(stored) and len(stored) < len(ANSWER) * 0.6, stored
    assert "receipts" not in stored and "Monday" not in stored
    assert record.media.stop_audio_count == 1
    assert record.media.bot_audio_discarded_ms < 200  # the gateway paces, ACS holds little

    # What the caller really heard of the answer is what the workflow stored, no more.
    await bot_quiet(spoken, connection_id)
    heard = words(await heard_by_caller(spoken, engines, connection_id))
    stored_words = words(stored)
    assert sum(w in heard for w in stored_words) >= 0.8 * len(stored_words), (heard, stored)
    assert "receipts" not in heard and "monday" not in heard, heard
    assert "go" in heard and "ahead" in heard  # the answer to the interruption


async def test_a_backchannel_during_the_answer_does_not_interrupt_it(
    spoken: Phone, engines: Engines
) -> None:
    call_id, connection_id, greeting = await answered_call(
        spoken, engines, ScriptedReply(text=ANSWER)
    )
    # "Okay" and "yeah": whisper-base mishears Piper's synthetic "mhm" ("and make them"); the
    # hum's spellings are covered by the text rules (test_turns).
    await bot_audio_beyond(spoken, connection_id, greeting, 2.5)
    await spoken.phones.play_audio(connection_id, await voice("Okay."), RATE)
    await bot_audio_beyond(spoken, connection_id, greeting, 6.0)
    await spoken.phones.play_audio(connection_id, await voice("Yeah."), RATE)
    # The bot says all of it: each backchannel paused it at most until its transcript.
    answer_s = len(await voice(ANSWER)) / 2 / RATE
    await bot_audio_beyond(spoken, connection_id, greeting, answer_s - 0.5)
    await bot_quiet(spoken, connection_id)

    state = await spoken.state(call_id)
    assert human_turns(state) == [human_turns(state)[0]]  # no turn from "okay" or "yeah"
    assert "car" in human_turns(state)[0].lower()
    answers = [m["content"] for m in state["messages"] if m["persona"] == "assistant"]
    assert answers[-1] == ANSWER  # stored whole: no barge-in reached the workflow
    record = await spoken.phones.call(connection_id)
    assert record.media.stop_audio_count <= 2  # each one paused, then resumed
    heard = await heard_by_caller(spoken, engines, connection_id)
    assert "receipts" in heard and "repair" in heard, heard  # the end of the answer too
    # The paused sentence goes on from the word it stopped in; Whisper may blur that seam
    # ("an ex- expert will" heard as "and x" or "and next we'll"), not the words after it.
    assert "call you on monday" in heard, heard


async def test_a_silent_caller_is_prompted_then_hung_up_on(spoken: Phone, engines: Engines) -> None:
    flags = RedisFlags(spoken.redis, key=spoken.settings.flags.redis_key, ttl_sec=0)
    await flags.set("phone_silence_timeout_sec", "2")
    await flags.set("recognition_retry_max", "2")
    call_id = await spoken.call(lang=ONE_LANGUAGE)
    connection_id = await spoken.connection(call_id)
    # The line is not digitally silent: room noise at -50 dBFS, which is not speech.
    noise = np.random.default_rng(3).normal(0, 0.003 * 32767, 20 * RATE)
    await spoken.phones.play_audio(connection_id, noise.astype("<i2").tobytes(), RATE)
    started = time.monotonic()

    record = await spoken.phones.wait_for_state(connection_id, "disconnected", timeout=30)
    elapsed = time.monotonic() - started
    assert record.hang_up is not None and record.hang_up.by == "bot"
    goodbye = record.plays[-1]
    assert goodbye.operation_context == "goodbye"
    assert goodbye.sources[0].text is not None and "goodbye" in goodbye.sources[0].text
    # Greeting (~4 s), then twice 2 s of silence and a prompt, then 2 s and the goodbye.
    assert 9 < elapsed < 25, elapsed
    heard = await heard_by_caller(spoken, engines, connection_id)
    assert "how can i help you" in heard, heard
    assert heard.count("still there") == 2, heard
    assert (await spoken.wait_status(call_id, "ended"))["status"] == "ended"
    assert not human_turns(await spoken.state(call_id))  # the noise never became a turn


async def _stopped(phone: Phone, connection_id: str) -> CallRecord | None:
    record = await phone.phones.call(connection_id)
    return record if record.media.stop_audio_count else None


async def _turns(phone: Phone, call_id: str, count: int) -> dict[str, Any] | None:
    state = await phone.state(call_id)
    answered = [
        m for m in state["messages"] if m["persona"] == "assistant" and m["turn_id"] == count
    ]
    return state if len(human_turns(state)) >= count and answered else None
