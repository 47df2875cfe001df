"""A campaign across calling hours and hour-long retries, on the time-skipping test server
with the whole phone stack: no dial outside the window (in each callee's zone), retries spaced
as configured, everyone accounted for once."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta
from zoneinfo import ZoneInfo

from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.calling_hours import CallingWindow, is_open, next_open
from domain.campaign import CampaignProgress, campaign_workflow_id
from tests.campaigns.harness import PhonePlan, answering_people, attempts_of, create_campaign
from tests.telephony.test_phone_calls import ONE_LANGUAGE, Phone
from workflows.campaign import CampaignWorkflow

PARIS = ZoneInfo("Europe/Paris")  # +33 numbers
RETRY: dict[str, dict[str, float]] = {
    "no_answer": {"delay_sec": 1_800, "count": 2},
    "busy": {"delay_sec": 3_600, "count": 1},
    "voicemail": {"delay_sec": 3_600, "count": 0},
    "failed": {"delay_sec": 600, "count": 1},
}


async def test_no_dial_outside_the_window_and_retries_hours_apart(
    phone: Phone, time_skipping_env: WorkflowEnvironment
) -> None:
    now = await time_skipping_env.get_current_time()
    # A one-hour window opening two to three hours from now in Paris: the first dials wait
    # for it, and the retries (30 min, 1 h) run over into the next day's.
    opens = (now.astimezone(PARIS) + timedelta(hours=2)).hour
    opens = min(opens, 22)
    window = CallingWindow(
        days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        start=f"{opens:02d}:00",
        end=f"{opens + 1:02d}:00",
    )
    kinds = ["never", "busy", "auto", "never", "reject", "busy", "never", "auto"]
    people = [PhonePlan(f"+336130{i:05d}", kinds[i]) for i in range(len(kinds))]
    for plan in people:
        await phone.phones.add_phone(plan.number, answer=plan.answer)  # type: ignore[arg-type]
    async with answering_people(phone.phones, phone.api, {}):
        campaign_id = await create_campaign(
            phone.api,
            [{"phone_number": p.number} for p in people],
            call={"lang": ONE_LANGUAGE},
            concurrency=3,
            starts_per_second=None,
            calling_hours=window.model_dump(mode="json"),
            retry=RETRY,
        )
        handle = phone.client.get_workflow_handle_for(
            CampaignWorkflow.run, campaign_workflow_id(campaign_id)
        )
        # The server skips time whenever nothing runs (no activity, no workflow task): a
        # call in progress is never cut short by skipped time (its `watch_call` activity
        # runs). Unlocked here: the env only unlocks for the handles it starts itself.
        async with time_skipping_env.time_skipping_unlocked():  # type: ignore[attr-defined]
            await until_finished(time_skipping_env, handle, timeout=50)
        result = await handle.result()
    assert result.status == "completed"
    view = (await phone.api.get(f"/campaigns/{campaign_id}")).json()
    assert view["states"] == {"done": len(people)}
    assert sum(view["outcomes"].values()) == len(people)

    attempts = await attempts_of(phone.settings, campaign_id)
    first = min(a.dialled_at for a in attempts)
    assert first >= next_open(now, window, PARIS)  # nobody rung before the window opened
    for attempt in attempts:
        assert is_open(attempt.dialled_at, window, PARIS), attempt.dialled_at.astimezone(PARIS)
    tries = defaultdict(list)
    for attempt in attempts:
        tries[attempt.seq].append(attempt)
    spans = []
    for seq, contact in tries.items():
        expected = {"never": 3, "busy": 2}.get(people[seq].answer, 1)
        assert len(contact) == expected, (people[seq], contact)
        for before, after in zip(contact, contact[1:], strict=False):
            assert before.ended_at is not None and before.outcome is not None
            due = before.ended_at + timedelta(seconds=RETRY[before.outcome]["delay_sec"])
            # At the retry's due time, or when the window next opens after it.
            assert next_open(due, window, PARIS) <= after.dialled_at
            assert after.dialled_at - next_open(due, window, PARIS) < timedelta(minutes=2)
            spans.append(after.dialled_at - before.ended_at)
    assert max(spans) > timedelta(hours=20)  # a retry waited for the next day's window


async def until_finished(
    env: WorkflowEnvironment,
    handle: WorkflowHandle[CampaignWorkflow, CampaignProgress],
    timeout: float,
) -> None:
    """Wait (real time) while the server skips time.

    Nothing here unlocks time skipping by hand: an unlock with no lock to give back (one of
    the campaign's activities was running) leaves the server's lock count below zero, time then
    skips while the calls wait on the phone, and with no timer left the server jumps to its
    ten-year default run timeout ("Workflow timed out", seen in CI under load)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        assert loop.time() < deadline, "campaign not finished"
        await asyncio.sleep(0.1)
