"""Recording of workflow histories for the replay tests, by the tests that run the paths.

With `RECORD_HISTORIES=1`, every workflow a test starts (through any client: the API's, an
activity's, the test's own) is noted, and once the test body has finished, while its Temporal
server still runs, the history of each of its runs (all of a continue-as-new chain) is written to
`tests/workflows/histories/<test>-<WorkflowType>[-n].json`.

A file already there is kept: the checked-in histories are the evidence of what older code
recorded, which a new build must still replay. `RECORD_HISTORIES=overwrite` replaces them.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.client._impl import _ClientImpl  # the one funnel of every workflow start

RECORDING = os.environ.get("RECORD_HISTORIES", "")
HISTORIES = Path(__file__).resolve().parents[1] / "workflows" / "histories"


class StartedWorkflows:
    """The workflows started while a test runs, in start order, each with its client."""

    def __init__(self) -> None:
        self.started: list[tuple[Client, str]] = []

    def note(self, client: Client, workflow_id: str) -> None:
        if all(c is not client or w != workflow_id for c, w in self.started):
            self.started.append((client, workflow_id))

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        start_workflow = _ClientImpl.start_workflow
        update_with_start = _ClientImpl.start_update_with_start_workflow

        async def noted_start(impl: _ClientImpl, input: Any) -> Any:
            self.note(impl._client, input.id)
            return await start_workflow(impl, input)

        async def noted_update_with_start(impl: _ClientImpl, input: Any) -> Any:
            self.note(impl._client, input.start_workflow_input.id)
            return await update_with_start(impl, input)

        monkeypatch.setattr(_ClientImpl, "start_workflow", noted_start)
        monkeypatch.setattr(
            _ClientImpl, "start_update_with_start_workflow", noted_update_with_start
        )


async def run_chain(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Every run of `workflow_id`, first to last (continue-as-new links them backwards)."""
    histories: list[WorkflowHistory] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id or None
        if run_id is None:
            return histories[::-1]


def workflow_type(history: WorkflowHistory) -> str:
    started = history.events[0].workflow_execution_started_event_attributes
    return started.workflow_type.name


def file_stem(test_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name).strip("_")


async def save_histories(
    test_name: str, started: StartedWorkflows, directory: Path = HISTORIES
) -> list[Path]:
    """Write the histories of every run of the started workflows; the files written."""
    runs: list[WorkflowHistory] = []
    for client, workflow_id in started.started:
        runs.extend(await run_chain(client, workflow_id))
    return write_histories(test_name, runs, directory)


def write_histories(test_name: str, runs: list[WorkflowHistory], directory: Path) -> list[Path]:
    per_type = Counter(workflow_type(h) for h in runs)
    seen: Counter[str] = Counter()
    written: list[Path] = []
    directory.mkdir(exist_ok=True)
    for history in runs:
        kind = workflow_type(history)
        seen[kind] += 1
        suffix = f"-{seen[kind]}" if per_type[kind] > 1 else ""
        path = directory / f"{file_stem(test_name)}-{kind}{suffix}.json"
        if path.exists() and RECORDING != "overwrite":
            continue
        path.write_text(history.to_json(), encoding="utf-8")
        written.append(path)
    return written


@pytest.fixture
async def record_histories(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[None]:
    """Requested last by every test when recording (`tests/conftest.py`), so it is torn down
    first: the test's Temporal server and workers are still there to answer."""
    started = StartedWorkflows()
    started.install(monkeypatch)
    yield
    if started.started:
        await save_histories(request.node.name, started)
