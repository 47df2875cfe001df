"""Answering-machine detection end to end: the emulator's phone answers with a synthesised
voice (a person's "Hello?", or a machine's greeting and beep), the media gateway's detector
(`media_gateway/amd.py`) hears it on the real media stream and signals the workflow, which
greets the person, or leaves its message on the machine after the beep and hangs up.
Real dev server, worker, API, gateway (Silero, Whisper, Piper) and ACS emulator."""

from __future__ import annotations

import asyncio

import pytest

from media_gateway.engines import Engines
from providers.sentences.redis_stream import RedisSentenceStream
from tests.support.amd_cases import VOICES, human_case, machine_case
from tests.support.engines import real_engines
from tests.telephony.test_phone_calls import ONE_LANGUAGE, Phone
from tests.telephony.test_phone_calls import spoken as spoken  # noqa: F401 - the fixture

PERSON = "+33655500011"
MACHINE = "+33655500012"


@pytest.fixture(scope="module")
def engines() -> Engines:
    return real_engines()


async def test_a_person_who_answers_is_greeted_after_the_detection(spoken: Phone) -> None:
    case = await human_case(0, VOICES[0])  # "Hello?", then waits
    await spoken.phones.add_phone(PERSON)
    await spoken.phones.set_greeting(PERSON, case.pcm, 16_000)
    call_id = await spoken.call(phone_number=PERSON, lang=ONE_LANGUAGE, machine_action="hang_up")
    state: dict[str, object] = {}
    for _ in range(150):
        state = await spoken.state(call_id)
        if state["answered_by"] is not None:
            break
        await asyncio.sleep(0.1)
    assert state["answered_by"] == "human", state
    after_ms = state["machine_detected_after_ms"]
    assert isinstance(after_ms, int) and 800 <= after_ms <= 4_000
    # The greeting follows the decision; "Hello?" was the answer judged, not a turn.
    spoken_text = [entry.text for _, entry in await RedisSentenceStream(spoken.redis).read(call_id)]
    assert spoken_text and spoken_text[0].startswith("Hello, I'm")
    messages = state["messages"]
    assert isinstance(messages, list)
    assert not [m for m in messages if m["persona"] == "human" and m["content"]]
    await spoken.phones.hang_up(str(state["connection_id"]))
    final = await spoken.wait_status(call_id, "ended")
    assert final["outcome"] == "abandoned"  # hung up before saying anything after the greeting


async def test_a_machine_gets_the_message_after_its_beep(spoken: Phone) -> None:
    case = await machine_case(0, VOICES[0])  # "Hi, you've reached Jane. ..." then a beep
    assert case.beep_end_s is not None
    await spoken.phones.add_phone(MACHINE, answer="voicemail", message_max_ms=15_000)
    # The greeting and its beep, then 100 ms: the machine records from there.
    greeting = case.pcm[: int((case.beep_end_s + 0.1) * 16_000) * 2]
    await spoken.phones.set_greeting(MACHINE, greeting, 16_000)
    call_id = await spoken.call(
        phone_number=MACHINE,
        lang=ONE_LANGUAGE,
        machine_action="leave_message",
        task="Remind the customer that their car insurance renews next week.",
    )
    record = await spoken.phones.wait_for_state(MACHINE, "disconnected", timeout=30)
    state = await spoken.wait_status(call_id, "ended")
    assert state["outcome"] == "voicemail" and state["answered_by"] == "machine"
    assert 2_000 <= state["machine_detected_after_ms"] <= 5_000
    # The message, played once the beep had ended, then the bot hung up (not the machine).
    assert record.plays and record.plays[-1].operation_context == "goodbye"
    message = record.plays[-1].sources[0].text or ""
    assert "renews next week" in message
    assert record.connected_at is not None and record.plays[-1].started_at is not None
    played_after_s = (record.plays[-1].started_at - record.connected_at).total_seconds()
    assert played_after_s >= case.beep_end_s, (played_after_s, case.beep_end_s)
    assert record.hang_up is not None and record.hang_up.by == "bot"
    assert not [m for m in state["messages"] if m["persona"] == "human" and m["content"]]
