"""Every call ends with an outcome: the emulator's phones ring out, are busy, decline, answer
and hang up; the workflow derives the outcome from the ACS events (CreateCallFailed result
codes, who hung up) and shows it in the state, the API and the `CallOutcome` search
attribute. Real dev server, worker, API, gateway and ACS emulator."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Literal

import pytest
from temporalio.testing import WorkflowEnvironment

from acs_emulator.config import AnswerMode
from domain import attributes
from domain.call import CallInitiate, MachineDetection
from domain.contracts import CallInput, UserTurn
from domain.outcome import CallOutcome
from scripted_llm.runner import ScriptedLlmServer
from tests.conftest import Stack, make_settings
from tests.telephony.test_phone_calls import AGENT, ONE_LANGUAGE, Phone, say
from tests.telephony.test_phone_calls import phone as phone  # noqa: F401 - the fixture
from tests.telephony.test_phone_calls import (  # noqa: F401 - the fixture
    phone_time_skipping as phone_time_skipping,
)
from worker import build_worker
from workflows.call import CallWorkflow
from workflows.call_phone import AMD_WAIT

NUMBER = "+33655500001"


async def _listed_with(phone: Phone, call_id: str, outcome: str) -> bool:
    """The call is found by its outcome in Temporal's visibility (eventually consistent)."""
    query = f"{attributes.OUTCOME.name} = '{outcome}' AND WorkflowId = 'call-{call_id}'"
    for _ in range(100):
        async for _found in phone.client.list_workflows(query):
            return True
        await asyncio.sleep(0.1)
    return False


async def ended(phone: Phone, call_id: str) -> dict[str, Any]:
    return await phone.wait_status(call_id, "ended", timeout=15)


@pytest.mark.parametrize(
    ("answer", "outcome", "code"),
    [
        ("busy", CallOutcome.BUSY, "486/560486"),
        ("reject", CallOutcome.REJECTED, "603/560603"),
        ("never", CallOutcome.NO_ANSWER, "480/560480"),
    ],
)
async def test_an_unanswered_call_ends_with_the_providers_reason(
    phone: Phone, answer: AnswerMode, outcome: CallOutcome, code: str
) -> None:
    await phone.phones.add_phone(NUMBER, answer=answer, ring_timeout_ms=300)
    call_id = await phone.call(phone_number=NUMBER, lang=ONE_LANGUAGE)
    state = await ended(phone, call_id)
    record = await phone.phones.wait_for_state(NUMBER, "disconnected")
    assert "CreateCallFailed" in record.event_types()
    assert state["outcome"] == outcome.value
    assert state["outcome_code"] == code  # the "code/subCode" ACS reported
    assert state["outcome_detail"]
    assert await _listed_with(phone, call_id, outcome.value)
    report = (await phone.api.get(f"/report/{call_id}")).text  # the call's report page
    assert 'id="outcome"' in report and f"<code>{code}</code>" in report
    listed = (await phone.api.get("/report", params={"phone_number": NUMBER})).text
    assert f'<span class="badge">{outcome.value.replace("_", " ")}</span>' in listed


async def test_a_conversation_the_bot_ends_is_completed(phone: Phone) -> None:
    call_id = await phone.call(lang=ONE_LANGUAGE)
    await phone.connection(call_id)
    phone.llm.state.add(say("Goodbye, have a nice day!", "end_call"), user=call_id)
    await phone.api.post(f"/call/{call_id}/messages", json={"text": "That's all, bye."})
    state = await ended(phone, call_id)
    assert state["outcome"] == "completed" and state["outcome_code"] is None
    assert await _listed_with(phone, call_id, "completed")


async def test_the_callee_hanging_up_mid_conversation_is_caller_hung_up(phone: Phone) -> None:
    call_id = await phone.call(lang=ONE_LANGUAGE)
    connection_id = await phone.connection(call_id)
    phone.llm.state.add(say("Where did it happen?"), user=call_id)
    await phone.api.post(f"/call/{call_id}/messages", json={"text": "My car was stolen."})
    await phone.phones.hang_up(connection_id)
    assert (await ended(phone, call_id))["outcome"] == "caller_hung_up"


async def test_the_callee_hanging_up_before_a_word_is_abandoned(phone: Phone) -> None:
    call_id = await phone.call(lang=ONE_LANGUAGE)
    connection_id = await phone.connection(call_id)
    await phone.phones.hang_up(connection_id)
    state = await ended(phone, call_id)
    assert state["outcome"] == "abandoned"
    assert await _listed_with(phone, call_id, "abandoned")


@pytest.mark.parametrize(
    ("agent", "outcome"), [("auto", "transferred"), ("busy", "transfer_failed")]
)
async def test_a_transfer_ends_transferred_or_failed(
    phone: Phone, agent: AnswerMode, outcome: str
) -> None:
    await phone.phones.add_phone(AGENT, answer=agent)
    call_id = await phone.call(lang=ONE_LANGUAGE, transfer_mode="cold")  # warm: its own file
    connection_id = await phone.connection(call_id)
    phone.llm.state.add(say("", "talk_to_human"), user=call_id)
    await phone.api.post(f"/call/{call_id}/messages", json={"text": "A human, please."})
    if agent == "busy":  # the bot apologises and goes on; then the caller gives up
        await phone.phones.wait_for_call(
            connection_id, lambda c: any(p.operation_context == "transfer_failed" for p in c.plays)
        )
        await phone.phones.hang_up(connection_id)
    assert (await ended(phone, call_id))["outcome"] == outcome


async def test_a_chat_the_bot_ends_is_completed(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(say("Goodbye!", "end_call"), user=call_id)
    await stack.say(call_id, "That's all, bye.")
    state = (await stack.api.get(f"/call/{call_id}")).json()["call"]
    assert state["channel"] == "chat" and state["status"] == "ended"
    assert state["outcome"] == "completed"


async def _detected(
    phone: Phone, call_id: str, kind: Literal["human", "machine"], after_ms: int = 1_500
) -> None:
    """What the gateway's detector signals (the audio path is tested with real speech in
    test_answering_machine.py)."""
    handle = phone.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    await handle.signal(
        CallWorkflow.machine_detected,
        MachineDetection(kind=kind, after_ms=after_ms, reason="test"),
    )


async def test_a_machine_is_hung_up_on_when_the_call_says_so(phone: Phone) -> None:
    call_id = await phone.call(lang=ONE_LANGUAGE, machine_action="hang_up")
    connection_id = await phone.connection(call_id)
    handle = phone.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    view = await handle.query(CallWorkflow.machine_detection)
    assert view.wanted and view.machine_action == "hang_up"
    await _detected(phone, call_id, "machine", 3_100)
    record = await phone.phones.wait_for_state(connection_id, "disconnected")
    assert record.hang_up is not None and record.hang_up.by == "bot"
    assert not record.plays  # no message: hung up at once
    state = await ended(phone, call_id)
    assert state["outcome"] == "voicemail" and state["answered_by"] == "machine"
    assert state["machine_detected_after_ms"] == 3_100
    # Nothing was said to the machine: the greeting waited for the decision.
    assert not [m for m in state["messages"] if m["persona"] == "assistant"]
    assert not (await handle.query(CallWorkflow.machine_detection)).wanted
    assert await _listed_with(phone, call_id, "voicemail")


async def test_without_a_decision_the_callee_is_greeted(
    phone_time_skipping: Phone, time_skipping_env: WorkflowEnvironment
) -> None:
    """No gateway detecting (or it died): after AMD_WAIT the call greets, as for a person."""
    phone = phone_time_skipping
    call_id = await phone.call(lang=ONE_LANGUAGE, machine_action="leave_message")
    await phone.connection(call_id)
    state = await phone.state(call_id)
    assert state["answered_by"] is None and not state["messages"][1:]  # no greeting yet
    await time_skipping_env.sleep(AMD_WAIT)
    for _ in range(100):
        state = await phone.state(call_id)
        if state["answered_by"] is not None:
            break
        await asyncio.sleep(0.1)
    assert state["answered_by"] == "unknown"
    assert state["machine_detected_after_ms"] == int(AMD_WAIT.total_seconds() * 1000)
    assert [m["content"] for m in state["messages"] if m["persona"] == "assistant"][0].startswith(
        "Hello, I'm"
    )


@pytest.mark.parametrize(("writes", "outcome"), [(False, "abandoned"), (True, "caller_hung_up")])
async def test_a_chat_left_idle_is_abandoned_or_left(
    time_skipping_env: WorkflowEnvironment,
    redis_url: str,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
    writes: bool,
    outcome: str,
) -> None:
    """A chat nobody ends closes after the call-back window (3 h, skipped): abandoned when the
    customer never wrote, caller_hung_up when they wrote and left."""
    client = time_skipping_env.client
    settings = make_settings(tmp_path, redis_url, scripted_llm, "unused:0")
    async with AsyncExitStack() as stack:
        worker = await build_worker(client, settings, stack)
        task = asyncio.create_task(worker.run())
        try:
            call_id = str(uuid.uuid4())
            initiate = CallInitiate(
                phone_number=NUMBER, bot_company="Contoso", bot_name="Amélie",
                agent_phone_number=AGENT,
            )  # fmt: skip
            handle = await client.start_workflow(
                CallWorkflow.run,
                CallInput(call_id=call_id, initiate=initiate),
                id=f"call-{call_id}",
                task_queue=settings.temporal.task_queue,
            )
            if writes:
                scripted_llm.state.add(say("Where did it happen?"), user=call_id)
                await handle.execute_update(CallWorkflow.user_turn, UserTurn(text="My car."))
                scripted_llm.state.add(  # the post-call's synthesis and next action fail soft
                    say("{}"), say("{}"), say("{}"), user=call_id
                )
            final = await asyncio.wait_for(handle.result(), 60)
            assert final.channel == "chat" and final.outcome == outcome
        finally:
            await worker.shutdown()
            await asyncio.gather(task, return_exceptions=True)
