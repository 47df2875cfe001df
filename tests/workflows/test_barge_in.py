"""Barge-in: the caller speaks over the bot; only what they heard is kept."""

from __future__ import annotations

import asyncio

from temporalio.client import WorkflowUpdateStage

from domain.contracts import BargeIn, UserTurn
from scripted_llm.script import ScriptedReply
from tests.conftest import Stack
from workflows.call import CallWorkflow


async def test_barge_in_cancels_the_llm_and_keeps_the_heard_part(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(
        ScriptedReply(
            text="Your policy covers towing. It also covers a replacement car for seven days, "
            "and the windscreen, and legal assistance, and much more that you never heard.",
            chunk_chars=6,
            chunk_delay_s=0.15,
        ),
        user=call_id,
    )
    handle = stack.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    update = await handle.start_update(
        CallWorkflow.user_turn,
        UserTurn(text="What does my policy cover?", turn_id=1, channel="voice"),
        wait_for_stage=WorkflowUpdateStage.ACCEPTED,
    )
    for _ in range(100):  # the first sentence reaches the gateway while the rest streams
        if await stack.sentences.read(call_id):
            break
        await asyncio.sleep(0.05)
    first = (await stack.sentences.read(call_id))[0][1].text
    assert first == "Your policy covers towing."
    await handle.signal(CallWorkflow.barge_in, BargeIn(turn_id=1, heard_text=first))
    reply = await asyncio.wait_for(update.result(), 10)
    assert reply.text == "Your policy covers towing."
    state = await handle.query(CallWorkflow.get_state)
    assert state.messages[-1].content == "Your policy covers towing."
    assert "never heard" not in str([m.content for m in state.messages])
    # The LLM stream was abandoned: not every sentence was written.
    await asyncio.sleep(0.5)
    assert all("never heard" not in e.text for _, e in await stack.sentences.read(call_id))


async def test_barge_in_after_the_answer_truncates_it_to_what_was_played(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(
        ScriptedReply(text="First sentence here. Second sentence was never played."),
        user=call_id,
    )
    handle = stack.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    await handle.execute_update(
        CallWorkflow.user_turn, UserTurn(text="Hello", turn_id=1, channel="voice")
    )
    await handle.signal(
        CallWorkflow.barge_in, BargeIn(turn_id=1, heard_text="First sentence here.")
    )
    for _ in range(50):
        state = await handle.query(CallWorkflow.get_state)
        if state.messages[-1].content == "First sentence here.":
            break
        await asyncio.sleep(0.05)
    assert state.messages[-1].content == "First sentence here."
    # A late interruption of an older turn changes nothing.
    await handle.signal(CallWorkflow.barge_in, BargeIn(turn_id=0, heard_text=""))
    assert (await handle.query(CallWorkflow.get_state)).messages[-1].content == (
        "First sentence here."
    )
