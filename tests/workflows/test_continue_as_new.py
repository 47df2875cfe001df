"""Continue-as-new: a long call rotates its history without losing a turn or any state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from core.devserver import TUNED_ARGS, temporal_binary
from scripted_llm.runner import ScriptedLlmServer
from tests.conftest import SEARCH_ATTRIBUTES, Stack, running_stack
from tests.support.codec import codec_converter
from tests.workflows.test_conversations import claim_update, text
from workflows.call import CallWorkflow


@pytest.fixture(scope="module")
async def small_history_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server that suggests continue-as-new after 40 events instead of 4,096."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=codec_converter(),  # its recorded histories are encrypted too
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=[
            *TUNED_ARGS,
            "--dynamic-config-value",
            "limit.historyCount.suggestContinueAsNew=40",
        ],
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


async def test_long_call_continues_as_new_with_its_state(
    small_history_env: WorkflowEnvironment,
    redis_url: str,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
) -> None:
    async with running_stack(small_history_env.client, redis_url, scripted_llm, tmp_path) as stack:
        api, client = stack.api, stack.client
        call_id = (await api.post("/call", json={"phone_number": "+33612345678"})).json()["call_id"]
        handle = client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
        first_run = (await handle.describe()).run_id
        turns = 12
        replies = []
        for turn in range(turns):
            replies.append(claim_update(("witnesses", f"witness number {turn}")))
            replies.append(text(f"Noted witness {turn}."))
        scripted_llm.state.add(*replies, user=call_id)
        for turn in range(turns):
            response = await api.post(f"/call/{call_id}/messages", json={"text": f"Witness {turn}"})
            assert response.status_code == 200, response.text
            assert response.json()["text"] == f"Noted witness {turn}."

        description = await handle.describe()
        assert description.run_id != first_run  # the history was rotated
        state = await handle.query(CallWorkflow.get_state)
        assert state.last_turn_id == turns
        humans = [m.content for m in state.messages if m.persona == "human" and m.content]
        assert humans == [f"Witness {t}" for t in range(turns)]
        assert state.claim["witnesses"] == f"witness number {turns - 1}"
        assert state.messages[1].content.startswith("Hello")  # greeted once, not per run
        assert sum(1 for m in state.messages if m.action == "call") == 1


async def test_a_long_call_rotates_its_history_past_the_flag(stack: Stack) -> None:
    """`history_rotate_events` (patch `history-rotation`): the run continues as new well before
    Temporal would suggest it, so a worker's cached runs stay small, and no turn is lost."""
    await stack.flags.set("history_rotate_events", "60")
    call_id = await stack.start_call()
    handle = stack.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    runs = {(await handle.describe()).run_id}
    turns = 12
    stack.llm.state.add(*(text(f"Noted {turn}.") for turn in range(turns)), user=call_id)
    for turn in range(turns):
        response = await stack.say(call_id, f"Fact {turn}")
        assert response.status_code == 200, response.text
        assert response.json()["text"] == f"Noted {turn}."
        runs.add((await handle.describe()).run_id)

    assert len(runs) >= 3  # rotated more than once
    description = await handle.describe()
    assert description.history_length < 120
    state = await handle.query(CallWorkflow.get_state)
    humans = [m.content for m in state.messages if m.persona == "human" and m.content]
    assert humans == [f"Fact {t}" for t in range(turns)]  # each turn once, in order
    assert state.last_turn_id == turns
