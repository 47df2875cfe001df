"""The history recorder (`RECORD_HISTORIES=1`) notes every workflow a test starts, whoever starts
it, and saves histories that replay; it never overwrites a recorded history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.worker import Replayer

from scripted_llm.script import ScriptedReply, ScriptedToolCall
from tests.conftest import Stack
from tests.support.histories import StartedWorkflows, save_histories
from tests.workflows.test_replay import load
from workflows.call import CallWorkflow
from workflows.reminder import ReminderWorkflow
from workflows.sandbox import WORKFLOW_RUNNER
from workflows.webhooks import WebhookWorkflow


async def test_the_recorder_saves_the_workflows_started_by_the_api_and_by_activities(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = StartedWorkflows()
    started.install(monkeypatch)
    call_id = await stack.start_call()  # the API starts the call
    stack.llm.state.add(
        ScriptedReply(
            tool_calls=[
                ScriptedToolCall(
                    name="new_or_updated_reminder",
                    arguments={
                        "title": "Send the repair quote",
                        "description": "The garage's quote",
                        "due_date_time": f"{datetime.now(UTC).date() + timedelta(days=5)} 10:00",
                        "owner": "customer",
                    },
                )
            ]
        ),
        ScriptedReply(text="I will text you the quote on Friday."),
        user=call_id,
    )
    response = await stack.say(call_id, "Send me the quote when you have it.")
    assert response.status_code == 200, response.text  # an activity started the reminder

    written = await save_histories("test_x[param]", started, tmp_path)
    names = sorted(p.name for p in written)
    # The call's webhook deliveries (call.started, reminder.scheduled) are workflows too.
    webhooks = [n for n in names if n.startswith("test_x_param-WebhookWorkflow")]
    assert webhooks and [n for n in names if n not in webhooks] == [
        "test_x_param-CallWorkflow.json",
        "test_x_param-ReminderWorkflow.json",
    ]
    replayer = Replayer(
        workflows=[CallWorkflow, ReminderWorkflow, WebhookWorkflow],
        data_converter=stack.client.data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )
    for path in written:
        await replayer.replay_workflow(load(path))

    before = {p: p.read_text() for p in written}
    await stack.say(call_id, "Thanks.")  # the call's history grows
    assert await save_histories("test_x[param]", started, tmp_path) == []
    assert {p: p.read_text() for p in written} == before
