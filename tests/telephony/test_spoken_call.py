"""A real spoken conversation through the ACS emulator and the media gateway.

The caller's voice is synthesised by Piper at test time and streamed by the emulator's phone
in real time; the gateway hears it with Silero VAD + Whisper, the workflow answers (scripted
LLM), the gateway speaks the answer with Piper, and what reached the phone is transcribed
again with Whisper. Nothing here is silence standing in for speech.
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from media_gateway.app import create_app as create_gateway
from media_gateway.engines import Engines
from providers.speech.audio import resample
from scripted_llm.script import ScriptedReply
from tests.support.engines import real_engines
from tests.telephony.test_phone_calls import ONE_LANGUAGE, Phone
from tests.telephony.test_phone_calls import spoken as spoken  # noqa: F401 - the phone fixture


@pytest.fixture(scope="module")
def engines() -> Engines:
    return real_engines()


@pytest.mark.parametrize("audio_format", ["pcm16k", "pcm24k"])
async def test_a_spoken_turn_round_trip(spoken: Phone, engines: Engines, audio_format: str) -> None:
    spoken.settings.telephony.audio_format = audio_format  # type: ignore[assignment]
    rate = 16_000 if audio_format == "pcm16k" else 24_000
    call_id = await spoken.call(lang=ONE_LANGUAGE)
    connection_id = await spoken.connection(call_id)
    spoken.llm.state.add(
        ScriptedReply(text="I am sorry to hear that. Where did it happen?"), user=call_id
    )
    # Wait for the greeting to be spoken, as a caller would.
    record = await spoken.phones.wait_for_call(
        connection_id, lambda c: c.media.audio_frames_received > 50, timeout=20
    )
    assert record.media.sample_rate == rate
    voice = b"".join([c async for c in engines.tts.synthesize("My car was stolen yesterday.")])
    caller = resample(voice, engines.tts.sample_rate, rate)
    await asyncio.sleep(1.5)  # let the greeting finish before the caller speaks
    await spoken.phones.play_audio(connection_id, caller, rate)

    state: dict[str, object] = {}
    for _ in range(300):  # the caller's turn, then the bot's answer
        state = await spoken.state(call_id)
        messages = state["messages"]
        assert isinstance(messages, list)
        if any(m["persona"] == "assistant" and "happen" in m["content"] for m in messages):
            break
        await asyncio.sleep(0.1)
    messages = state["messages"]
    assert isinstance(messages, list)
    heard_by_bot = [m["content"] for m in messages if m["persona"] == "human" and m["content"]]
    assert heard_by_bot and "car" in heard_by_bot[0].lower(), heard_by_bot

    await asyncio.sleep(4)  # the answer is spoken in real time
    received, received_rate = await spoken.phones.received_audio(connection_id)
    assert received_rate == rate
    pcm = resample(received, received_rate, engines.stt.sample_rate)
    heard_by_caller = (await engines.stt.transcribe(pcm, language="en-US")).text.lower()
    assert "contoso" in heard_by_caller or "help" in heard_by_caller, heard_by_caller  # greeting
    assert "where did it happen" in heard_by_caller.replace("?", ""), heard_by_caller


async def test_a_killed_gateway_is_replaced_and_the_conversation_goes_on(
    spoken: Phone, engines: Engines
) -> None:
    call_id = await spoken.call(lang=ONE_LANGUAGE)
    connection_id = await spoken.connection(call_id)
    spoken.llm.state.add(
        ScriptedReply(text="Noted. Anything else?"),
        ScriptedReply(text="Thank you, that is all I need."),
        user=call_id,
    )
    await spoken.phones.wait_for_call(connection_id, lambda c: c.media.audio_frames_received > 50)
    rate = 16_000

    async def say(text: str) -> None:
        voice = b"".join([c async for c in engines.tts.synthesize(text)])
        await spoken.phones.play_audio(
            connection_id, resample(voice, engines.tts.sample_rate, rate), rate
        )

    async def turns() -> list[str]:
        state = await spoken.state(call_id)
        return [m["content"] for m in state["messages"] if m["persona"] == "human" and m["content"]]

    await asyncio.sleep(1.5)
    await say("My car was stolen yesterday.")
    for _ in range(200):
        if len(await turns()) == 1:
            break
        await asyncio.sleep(0.1)
    assert len(await turns()) == 1

    # The gateway process dies: its sockets close and it stops listening.
    assert spoken.gateway_runner is not None
    await spoken.gateway_runner.cleanup()
    await spoken.phones.wait_for_event(connection_id, "MediaStreamingStopped")
    # A healthy gateway comes up where ACS streams (behind the same URL).
    runner = web.AppRunner(create_gateway(spoken.client, spoken.speech), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", spoken.gateway_port).start()
    try:
        await spoken.phones.wait_for_event(
            connection_id, "MediaStreamingStarted", count=2, timeout=20
        )
        # The replacement first says again the sentence the dead gateway had not finished:
        # the caller waits for it (speaking over it would be a barge-in, and cut the answer).
        await bot_quiet(spoken, connection_id)
        await say("It was parked in front of my house.")
        for _ in range(200):
            if len(await turns()) == 2:
                break
            await asyncio.sleep(0.1)
        said = await turns()
        state = await spoken.state(call_id)
    finally:
        await runner.cleanup()
    assert len(said) == 2, said  # each turn exactly once, in order
    # Whisper base sometimes drops an ending ("park"): the test is about the turns, not it.
    assert "car" in said[0].lower() and "front of my house" in said[1].lower(), said
    assert state["last_turn_id"] == 2
    answers = [m["content"] for m in state["messages"] if m["persona"] == "assistant"]
    assert answers[-2:] == ["Noted. Anything else?", "Thank you, that is all I need."]


async def bot_quiet(spoken: Phone, connection_id: str, quiet_s: float = 1.0) -> None:
    """Wait until the phone has received no bot audio for `quiet_s` (at most 20 s)."""
    last, since = -1, 0.0
    for _ in range(200):
        received = (await spoken.phones.call(connection_id)).media.audio_bytes_received
        if received != last:
            last, since = received, 0.0
        elif since >= quiet_s:
            return
        await asyncio.sleep(0.1)
        since += 0.1
    raise AssertionError("the bot never stopped talking")
