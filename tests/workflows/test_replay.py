"""Replay of recorded histories: a non-deterministic change to a workflow fails here.

The histories are recorded by the tests that run each path (`RECORD_HISTORIES=1 pytest ...`,
see `tests/support/histories.py`) and checked in; a recorded file is never re-recorded, so they
stay the evidence of what older code wrote. Every one must replay on the current code, with both
workflow types registered as the worker registers them. See docs/deploy.md, "Changing workflow
code safely".
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from domain.call import CallState, Reminder
from domain.campaign import CampaignInput, CampaignProgress, ClaimResult
from domain.contracts import CallInput, ReminderInput
from tests.support.codec import codec_converter
from workflows.call import CallWorkflow
from workflows.campaign import CampaignWorkflow
from workflows.reminder import ReminderWorkflow
from workflows.sandbox import WORKFLOW_RUNNER

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))

# The paths the checked-in histories must cover (file name fragments, from the recording tests).
REQUIRED = {
    "reminder fired": "test_a_reminder_due_in_two_days_texts_its_owner-ReminderWorkflow",
    "reminder retried": "test_a_failing_follow_up_retries_with_backoff_then_fails-ReminderWorkflow",
    "reminder cancelled": "test_an_update_reschedules_and_a_cancel_stops-ReminderWorkflow",
    "reminder call back unanswered, retried, answered": (
        "test_unanswered_twice_then_answered_completes_on_the_third_call-ReminderWorkflow"
    ),
    "barge-in": "test_barge_in_cancels_the_llm_and_keeps_the_heard_part-CallWorkflow",
    "caller silence": "test_a_silent_caller_is_prompted_then_the_call_ends-CallWorkflow",
    "call-back resume": "test_a_dropped_call_resumes_when_the_customer_calls_back-CallWorkflow",
    "continue-as-new": "test_long_call_continues_as_new_with_its_state-CallWorkflow-1",
    "SMS turn": "test_sms_out_through_acs_and_in_answered_by_sms-CallWorkflow",
    "idle timer fired": "test_idle_call_is_closed_after_the_callback_window-CallWorkflow",
    "campaign with its webhooks and cost": (
        "test_a_campaign_sends_its_events_to_its_own_endpoint_and_the_deployments-CampaignWorkflow"
    ),
}


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))


def history_type(path: Path) -> str:
    events = json.loads(path.read_text(encoding="utf-8"))["events"]
    name: str = events[0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
    return name


def replayer(*workflows: type) -> Replayer:
    return Replayer(
        workflows=list(workflows),
        data_converter=codec_converter(),  # the histories are encrypted with the test key
        workflow_runner=WORKFLOW_RUNNER,
    )


def test_histories_are_checked_in() -> None:
    stems = {p.stem for p in HISTORIES}
    missing = [path for path, stem in REQUIRED.items() if stem not in stems]
    assert not missing, f"record them with RECORD_HISTORIES=1: {missing}"
    assert {history_type(p) for p in HISTORIES} >= {
        "CallWorkflow",
        "ReminderWorkflow",
        "CampaignWorkflow",
    }


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path) -> None:
    await replayer(CallWorkflow, ReminderWorkflow, CampaignWorkflow).replay_workflow(load(path))


# --- the same check must catch a breaking change --------------------------------------------


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


@workflow.defn(name="ReminderWorkflow")
class ReorderedReminderWorkflow(ReminderWorkflow):
    """The same change in the reminder: a pause before reporting its status."""

    @workflow.init
    def __init__(self, input: ReminderInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: ReminderInput) -> Reminder:
        return await super().run(input)

    async def _report(self) -> None:
        await workflow.sleep(timedelta(milliseconds=10))
        await super()._report()


@workflow.defn(name="CampaignWorkflow")
class ReorderedCampaignWorkflow(CampaignWorkflow):
    """The same change in a campaign: a pause before claiming contacts."""

    @workflow.init
    def __init__(self, input: CampaignInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: CampaignInput) -> CampaignProgress:
        return await super().run(input)

    async def _claim(self, limit: int) -> ClaimResult:
        await workflow.sleep(timedelta(milliseconds=10))
        return await super()._claim(limit)


# The step each workflow type's breaking change comes before.
CHANGED_STEP = {
    "CallWorkflow": "save_call",
    "ReminderWorkflow": "report_reminder",
    "CampaignWorkflow": "claim_contacts",
}


def steps(path: Path) -> set[str]:
    """The activity types a history ran, local activities (recorded as markers) included."""
    names: set[str] = set()
    for event in json.loads(path.read_text(encoding="utf-8"))["events"]:
        if "activityTaskScheduledEventAttributes" in event:
            names.add(event["activityTaskScheduledEventAttributes"]["activityType"]["name"])
        marker = event.get("markerRecordedEventAttributes", {})
        if marker.get("markerName") == "core_local_activity":
            data = marker["details"]["data"]["payloads"][0]["data"]
            names.add(json.loads(base64.b64decode(data))["activity_type"])
    return names


def reaches_the_change(path: Path) -> bool:
    """Only a history that recorded the changed step can tell the change apart: the save for a
    call, the status report for a reminder, the claim for a campaign. A change after a
    history's last event replays."""
    return CHANGED_STEP.get(history_type(path), "") in steps(path)


CHANGED = [p for p in HISTORIES if reaches_the_change(p)]


def test_the_breaking_change_is_tested_on_most_histories() -> None:
    assert len(CHANGED) >= len(HISTORIES) - 2, [p.stem for p in HISTORIES if p not in CHANGED]


@pytest.mark.parametrize("path", CHANGED, ids=[p.stem for p in CHANGED])
async def test_a_non_deterministic_change_fails_replay(path: Path) -> None:
    changed = replayer(ReorderedCallWorkflow, ReorderedReminderWorkflow, ReorderedCampaignWorkflow)
    result = await changed.replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()
