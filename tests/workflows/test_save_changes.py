"""A save sends only the messages changed since the run's last save (`CallBase._save_changes`):
the store still holds the whole call, and a store that lost the call gets it all back.

The Temporal core keeps every local activity's input while a run is cached; whole states on
every turn grew a worker by the square of a call's turns (`bench/soak.py`).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer

from activities.store import StoreActivities
from domain.call import CallInitiate, CallState, Message, Persona
from domain.contracts import SaveCallInput
from providers.store.sqlite import SqliteCallStore
from tests.conftest import Stack
from tests.workflows.test_conversations import claim_update, text
from workflows.call import CallWorkflow
from workflows.sandbox import WORKFLOW_RUNNER
from workflows.webhooks import WebhookWorkflow


def _call(*contents: str) -> CallState:
    now = datetime.now(UTC)
    return CallState(
        call_id="c-save",
        created_at=now,
        initiate=CallInitiate(
            phone_number="+33612345678",
            bot_company="Contoso",
            bot_name="Amélie",
            agent_phone_number="+33699999999",
        ),
        messages=[Message(created_at=now, persona=Persona.HUMAN, content=c) for c in contents],
    )


async def test_the_activity_keeps_the_stored_messages_before_the_index() -> None:
    store = SqliteCallStore(":memory:")
    await store.open()
    try:
        save = StoreActivities(store).save_call
        await save(SaveCallInput(call=_call("a", "b", "c")))
        # "c" changed in place and "d" is new: the save sends them from index 2.
        await save(SaveCallInput(call=_call("c, corrected", "d"), messages_from=2))
        stored = await store.get("c-save")
        assert stored is not None
        assert [m.content for m in stored.messages] == ["a", "b", "c, corrected", "d"]

        with pytest.raises(ApplicationError) as behind:
            await save(SaveCallInput(call=_call("e"), messages_from=5))
        assert behind.value.type == "StoreBehind" and behind.value.non_retryable
        stored = await store.get("c-save")
        assert stored is not None and len(stored.messages) == 4  # nothing written
    finally:
        await store.close()


async def test_the_store_holds_the_whole_call_and_is_rebuilt_when_it_lost_it(
    stack: Stack,
) -> None:
    call_id = await stack.start_call()
    # Tool calls are appended to a message already in the list, in place.
    stack.llm.state.add(
        claim_update(("incident_location", "near the station")),
        text("Noted the place."),
        text("Anything else?"),
        text("Noted again."),
        user=call_id,
    )
    for turn in ("My car was hit near the station.", "Nothing else.", "Thanks."):
        response = await stack.say(call_id, turn)
        assert response.status_code == 200, response.text

    handle = stack.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")

    async def stored_matches_the_workflow() -> None:
        state = await handle.query(CallWorkflow.get_state)
        stored = await stack.store.get(call_id)
        assert stored is not None
        assert stored.messages == state.messages
        assert stored.claim == state.claim and stored.last_turn_id == state.last_turn_id

    await stored_matches_the_workflow()
    # The run replays (a worker that did not cache it rebuilds it from its history).
    replayer = Replayer(
        workflows=[CallWorkflow, WebhookWorkflow],
        data_converter=stack.client.data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )
    replayed = await replayer.replay_workflow(
        await handle.fetch_history(), raise_on_replay_failure=False
    )
    assert replayed.replay_failure is None, replayed.replay_failure

    # The store loses the call (a restored backup): the next save sends the whole state.
    with sqlite3.connect(stack.settings.store.sqlite_path) as db:
        db.execute("DELETE FROM calls WHERE call_id = ?", (call_id,))
    stack.llm.state.add(text("Still here."), user=call_id)
    response = await stack.say(call_id, "Are you there?")
    assert response.status_code == 200, response.text
    await stored_matches_the_workflow()
