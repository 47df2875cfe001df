"""A campaign through the whole phone stack on the real dev server: mixed outcomes from the
ACS emulator's phones, retries, the concurrency limit, the do-not-call list (given, and asked
for during a call), pause/resume and the API's counts."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.campaign import campaign_workflow_id
from scripted_llm.runner import ScriptedLlmServer
from tests.campaigns.harness import (
    PhonePlan,
    answering_people,
    attempts_of,
    create_campaign,
    max_overlap,
    phone_intervals,
    wait_finished,
)
from tests.telephony.test_phone_calls import ONE_LANGUAGE, Phone, open_phone
from workflows.campaign import CampaignWorkflow

RETRY: dict[str, dict[str, float]] = {
    "no_answer": {"delay_sec": 1, "count": 1},
    "busy": {"delay_sec": 1.5, "count": 2},
    "voicemail": {"delay_sec": 1, "count": 0},
    "failed": {"delay_sec": 1, "count": 1},
}


@pytest.fixture
async def phone(
    temporal_env: WorkflowEnvironment,
    redis_url: str,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
) -> AsyncIterator[Phone]:
    async for stack in open_phone(temporal_env, redis_url, scripted_llm, tmp_path):
        await stack.phones.configure(ring_timeout_ms=400)  # an unanswered phone rings briefly
        yield stack


def plans(count: int) -> list[PhonePlan]:
    """`count` phones: a mix of people answering, busy lines, no answer and rejections."""
    kinds = ["auto", "busy", "never", "auto", "reject", "never", "busy", "auto"]
    return [
        PhonePlan(number=f"+336120{index:05d}", answer=kinds[index % len(kinds)])
        for index in range(count)
    ]


async def test_campaign_with_mixed_outcomes_accounts_for_everyone(phone: Phone) -> None:
    people = plans(24)
    people[0].says = "Please stop calling me, I am not interested."
    for plan in people:
        await phone.phones.add_phone(plan.number, answer=plan.answer)  # type: ignore[arg-type]
    listed = people[5].number  # on the do-not-call list: never dialled
    contacts = [
        {"phone_number": p.number, "variables": {"first_name": f"Person {i}"}}
        for i, p in enumerate(people)
    ]
    contacts.append(dict(contacts[0]))  # the same person again: asked not to be called
    by_number = {p.number: p for p in people}
    # Continue as new every ~100 events: the runs hand over the calls in flight.
    phone.settings.campaigns.rotate_after_events = 100
    async with answering_people(phone.phones, phone.api, by_number):
        campaign_id = await create_campaign(
            phone.api,
            contacts,
            name="mixed outcomes",
            call={"task": "Call {first_name} about their claim.", "lang": ONE_LANGUAGE},
            concurrency=6,
            starts_per_second=None,
            retry=RETRY,
            do_not_call=[listed],
        )
        view = await wait_finished(phone.api, campaign_id, timeout=90)

    # Every contact accounted for exactly once.
    assert view["status"] == "completed"
    assert view["contacts"] == len(contacts) and view["states"] == {"done": len(contacts)}
    assert sum(view["outcomes"].values()) == len(contacts)
    attempts = await attempts_of(phone.settings, campaign_id)
    assert all(a.outcome is not None and a.ended_at is not None for a in attempts)

    # Nobody on the do-not-call list was dialled; the caller who asked is not called again.
    records = await phone.phones.calls()
    dialled = Counter(r.phone_number for r in records if r.direction == "outbound")
    assert listed not in dialled
    assert dialled[people[0].number] == 1
    # The listed number, the caller who asked, and the same caller again.
    assert view["outcomes"]["do_not_call"] == 3

    # Retries as configured: busy lines three times, unanswered twice, the others once.
    for plan in people:
        if plan.number == listed or plan is people[0]:
            continue
        expected = {"busy": 3, "never": 2}.get(plan.answer, 1)
        assert dialled[plan.number] == expected, (plan, dialled[plan.number])
    by_contact = defaultdict(list)
    for attempt in attempts:
        by_contact[attempt.seq].append(attempt)
    for tries in by_contact.values():
        for before, after in zip(tries, tries[1:], strict=False):
            assert before.ended_at is not None and before.outcome is not None
            delay = RETRY[before.outcome]["delay_sec"]
            assert after.dialled_at - before.ended_at >= timedelta(seconds=delay)

    # The limit was never exceeded, measured at the phones (every leg from ring to end).
    assert max_overlap(phone_intervals(records)) <= 6
    assert max_overlap([(a.dialled_at, a.ended_at) for a in attempts if a.ended_at]) <= 6
    assert view["max_in_flight"] in (None, 4) or view["max_in_flight"] <= 6

    outcomes = view["outcomes"]
    assert outcomes.get("busy", 0) == sum(p.answer == "busy" for p in people)
    assert outcomes.get("no_answer", 0) == sum(p.answer == "never" for p in people) - 1


async def test_pause_resume_and_cancel(phone: Phone) -> None:
    people = plans(12)
    for plan in people:
        await phone.phones.add_phone(plan.number, answer="never")
    contacts = [{"phone_number": p.number} for p in people]
    async with answering_people(phone.phones, phone.api, {}):
        campaign_id = await create_campaign(
            phone.api,
            contacts,
            call={"lang": ONE_LANGUAGE},
            concurrency=2,
            starts_per_second=None,
            retry=RETRY,
        )
        paused = await phone.api.post(f"/campaigns/{campaign_id}/pause")
        assert paused.status_code == 202
        await asyncio.sleep(2)  # the calls already placed end (400 ms of ringing)
        before = len(await phone.phones.calls())
        await asyncio.sleep(1.5)
        assert len(await phone.phones.calls()) == before  # paused: nobody new is dialled
        view = (await phone.api.get(f"/campaigns/{campaign_id}")).json()
        assert view["status"] == "paused" and view["states"].get("pending", 0) > 0
        assert (await phone.api.post(f"/campaigns/{campaign_id}/resume")).status_code == 202
        await phone.phones.wait_for(
            lambda calls: calls if len(calls) > before else None, timeout=10
        )
        cancelled = await phone.api.post(f"/campaigns/{campaign_id}/cancel")
        assert cancelled.status_code == 202
        view = await wait_finished(phone.api, campaign_id, timeout=30)
    assert view["status"] == "cancelled"
    assert view["outcomes"].get("cancelled", 0) > 0
    assert sum(view["outcomes"].values()) == len(contacts)
    again = await phone.api.post(f"/campaigns/{campaign_id}/resume")
    assert again.status_code == 409
    handle = phone.client.get_workflow_handle_for(
        CampaignWorkflow.run, campaign_workflow_id(campaign_id)
    )
    result = await handle.result()
    assert result.status == "cancelled" and result.in_flight == 0
    assert sum(result.results.values()) == len(contacts)
