"""Replay of recorded call histories: a non-deterministic change to the workflow fails here.

Histories are recorded from real runs of the conversation tests
(`RECORD_HISTORIES=1 pytest tests/workflows/test_conversations.py`) and checked in.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from domain.call import CallState
from domain.contracts import CallInput
from workflows.call import CallWorkflow
from workflows.sandbox import WORKFLOW_RUNNER

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))


def test_histories_are_checked_in() -> None:
    assert len(HISTORIES) >= 2, "record them with RECORD_HISTORIES=1"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_call_replays(path: Path) -> None:
    replayer = Replayer(
        workflows=[CallWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )
    await replayer.replay_workflow(load(path))


@workflow.defn(name="CallWorkflow")
class ReorderedCallWorkflow(CallWorkflow):
    """The same workflow with one innocent-looking change: a pause before saving."""

    @workflow.init
    def __init__(self, input: CallInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: CallInput) -> CallState:
        return await super().run(input)

    async def _save(self) -> None:
        await workflow.sleep(timedelta(milliseconds=10))
        await super()._save()


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_a_non_deterministic_change_fails_replay(path: Path) -> None:
    replayer = Replayer(
        workflows=[ReorderedCallWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )
    result = await replayer.replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert (
        "Nondeterminism" in str(result.replay_failure)
        or "nondetermin" in str(result.replay_failure).lower()
    )
