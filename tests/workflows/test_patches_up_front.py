"""A call decides all its patches in its first workflow task (`PATCHES_UP_FRONT`).

A `patched()` evaluated right after a local activity could be recorded one workflow task after
the activity's marker on a loaded worker, and then replay as False (TMPRL1100, "Non-deprecated
patch marker encountered", seen in the loaded soak). Decided before any local activity, no
patch marker can follow one.
"""

from __future__ import annotations

import ast
import gc
import json
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.worker import Replayer

from tests.conftest import Stack
from tests.workflows.test_conversations import text
from workflows import patches
from workflows.call import CallWorkflow
from workflows.sandbox import WORKFLOW_RUNNER
from workflows.webhooks import WebhookWorkflow

ROOT = Path(__file__).resolve().parents[2]
# The modules whose code runs inside `CallWorkflow` (webhooks.py: its `Webhooks` sender); a
# new `workflows/call_*.py` is picked up without editing this list.
CALL_MODULES = sorted({p.name for p in (ROOT / "workflows").glob("call*.py")} | {"webhooks.py"})


def _parse(source: str) -> ast.Module:
    """`ast.parse` with the garbage collector off: CPython 3.11.7 raised "AST constructor
    recursion depth mismatch" once late in a CI run, when finalizers ran in the middle of
    building the tree and moved the thread's recursion count."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(source)
    finally:
        if enabled:
            gc.enable()


def _patch_ids_checked(module: Path) -> set[str]:
    ids = set()
    for node in ast.walk(_parse(module.read_text())):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "patched"
        ):
            continue
        (argument,) = node.args
        if isinstance(argument, ast.Attribute):
            ids.add(getattr(patches, argument.attr))
        else:  # a variable (the loop of `_patches_up_front`)
            assert isinstance(argument, ast.Name) and argument.id == "patch_id", ast.dump(node)
    return ids


def test_every_patch_of_the_call_is_decided_up_front() -> None:
    checked = set().union(*(_patch_ids_checked(ROOT / "workflows" / m) for m in CALL_MODULES))
    missing = checked - {patches.PATCHES_UP_FRONT, *patches.CALL_PATCHES}
    assert not missing, f"add {sorted(missing)} to patches.CALL_PATCHES"
    assert len(set(patches.CALL_PATCHES)) == len(patches.CALL_PATCHES)


async def test_a_call_records_its_patch_markers_in_its_first_task(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(text("Noted."), text("Anything else?"), user=call_id)
    for turn in ("My car was hit near the station.", "Nothing else."):
        response = await stack.say(call_id, turn)
        assert response.status_code == 200, response.text

    handle = stack.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    history = await handle.fetch_history()
    completed = [
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]
    local_markers, patch_markers = [], {}
    for event in history.events:
        if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
            continue
        marker = event.marker_recorded_event_attributes
        if marker.marker_name == "core_patch":
            patch_id = json.loads(marker.details["patch-data"].payloads[0].data)["id"]
            patch_markers[patch_id] = marker.workflow_task_completed_event_id
        else:
            local_markers.append(marker.workflow_task_completed_event_id)
    assert set(patch_markers) == {patches.PATCHES_UP_FRONT, *patches.CALL_PATCHES}
    assert set(patch_markers.values()) == {completed[0]}  # all in the first task
    assert local_markers and min(local_markers) >= completed[0]  # no local activity before

    replayer = Replayer(
        workflows=[CallWorkflow, WebhookWorkflow],
        data_converter=stack.client.data_converter,
        workflow_runner=WORKFLOW_RUNNER,
    )
    replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert replayed.replay_failure is None, replayed.replay_failure
