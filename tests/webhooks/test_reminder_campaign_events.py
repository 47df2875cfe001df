"""`reminder.*` and `campaign.*` webhooks to a real receiver that verifies every signature
(`standardwebhooks`), each event once, to the deployment's endpoint and to the call's or the
campaign's own `webhook_url`, with ids, counts and outcomes but no phone number.

Reminders run on the time-skipping server (days pass at once); the campaign on the dev server
with the API, the worker, SQLite and the scripted LLM over HTTP, its calls on the chat channel.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.reminders import follow_up_call_id
from core.settings import Settings
from core.stores import open_store
from domain.call import CallInitiate, CallState, Reminder
from domain.campaign import call_id_for
from domain.contracts import ReminderInput
from domain.webhooks import EventType, WebhookReport, reminder_key, workflow_id
from providers.store.base import CallStore
from scripted_llm.runner import ScriptedLlmServer
from scripted_llm.script import ScriptedReply, ScriptedToolCall
from tests.campaigns.harness import wait_finished
from tests.conftest import make_settings
from tests.webhooks.test_webhooks import (
    CALL_SECRET,
    CRM_SECRET,
    Receiver,
    free_port,
    webhook_stack,
)
from worker import build_worker
from workflows.reminder import ReminderWorkflow, reminder_workflow_id
from workflows.webhooks import WebhookWorkflow

NUMBERS = ["+33612000301", "+33612000302"]


def with_webhooks(settings: Settings, receiver: Receiver, **overrides: object) -> Settings:
    webhooks = {
        "endpoints": [{"name": "crm", "url": receiver.url("crm"), "secret": CRM_SECRET}],
        "secret": CALL_SECRET,
        "retry_delays_sec": [1.0] * 5,
        "timeout_sec": 5,
    }
    return Settings.model_validate({**settings.model_dump(), "webhooks": webhooks, **overrides})


async def delivered(client: Client, event_ids: list[str], timeout: float) -> list[WebhookReport]:  # noqa: ASYNC109
    """Each event's delivery workflow, once it has delivered to every endpoint."""
    handles = [
        client.get_workflow_handle_for(WebhookWorkflow.run, workflow_id(i)) for i in event_ids
    ]
    reports = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout)
    for report in reports:
        assert {t.target for t in report.targets} == {"crm", "event-url"}, report
        assert all(t.delivered and t.attempts == 1 for t in report.targets), report
    return reports


async def enqueued(client: Client, event_id: str, timeout: float = 20) -> None:  # noqa: ASYNC109
    """Wait until the event's delivery workflow exists (its sender has seen the change)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await client.get_workflow_handle(workflow_id(event_id)).describe()
            return
        except RPCError:
            assert asyncio.get_running_loop().time() < deadline, f"{event_id} never sent"
            await asyncio.sleep(0.1)


def bodies(receiver: Receiver, path: str, prefix: str) -> dict[str, dict[str, Any]]:
    """The accepted deliveries at one endpoint whose type starts with `prefix`, by id; an id
    delivered twice would fail here."""
    got = [
        (i, body)
        for p, i, body in receiver.accepted
        if p == path and body["type"].startswith(prefix)
    ]
    ids = [i for i, _ in got]
    assert len(ids) == len(set(ids)), f"delivered more than once: {ids}"
    return dict(got)


# --- reminders -------------------------------------------------------------------------------


@asynccontextmanager
async def reminder_worker(env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[CallStore]:
    async with AsyncExitStack() as resources:
        worker = await build_worker(env.client, settings, resources)
        store = await open_store(settings.store)
        resources.push_async_callback(store.close)
        task = asyncio.create_task(worker.run())
        try:
            yield store
        finally:
            await worker.shutdown()
            await asyncio.gather(task, return_exceptions=True)


async def test_reminders_send_fired_completed_failed_and_cancelled(
    time_skipping_env: WorkflowEnvironment,
    redis_url: str,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
) -> None:
    env, client = time_skipping_env, time_skipping_env.client
    receiver = Receiver(free_port(), {"crm": CRM_SECRET, "call": CALL_SECRET}, refuse=0)
    await receiver.start()
    # The SMS outbox is a directory: a reminder texted to its owner really fails.
    outbox = tmp_path / "outbox-is-a-directory"
    outbox.mkdir()
    base = make_settings(tmp_path, redis_url, scripted_llm, "unused:0")
    settings = with_webhooks(base, receiver, sms={"outbox_path": outbox})
    initiate = CallInitiate(
        phone_number=NUMBERS[0],
        bot_company="Contoso",
        bot_name="Amélie",
        agent_phone_number="+33698765432",
        webhook_url=receiver.url("call"),
    )
    try:
        async with reminder_worker(env, settings) as store:
            now = await env.get_current_time()
            call_id = str(uuid.uuid4())

            def reminder(title: str, owner: str, hours: int) -> Reminder:
                return Reminder(
                    created_at=now,
                    title=title,
                    description="About the quote.",
                    due_date_time=now + timedelta(hours=hours),
                    owner=owner,
                )

            call_back = reminder("Call back", "assistant", 2)
            text = reminder("Text the quote", "customer", 3)
            dropped = reminder("Send the form", "customer", 30)
            await store.save(
                CallState(
                    call_id=call_id,
                    created_at=now,
                    initiate=initiate,
                    reminders=[call_back, text, dropped],
                )
            )
            handles: dict[str, WorkflowHandle[ReminderWorkflow, Reminder]] = {}
            for item, attempts in ((call_back, 3), (text, 2), (dropped, 3)):
                handles[item.title] = await client.start_workflow(
                    ReminderWorkflow.run,
                    ReminderInput(
                        call_id=call_id,
                        reminder=item,
                        initiate=initiate,
                        max_attempts=attempts,
                        first_retry_sec=60,
                    ),
                    id=reminder_workflow_id(call_id, item.title),
                    task_queue=settings.temporal.task_queue,
                )
            await handles[dropped.title].signal(ReminderWorkflow.cancel)
            done = {t: await asyncio.wait_for(h.result(), 30) for t, h in handles.items()}
            assert [r.status for r in done.values()] == ["sent", "failed", "cancelled"]

            def ids(item: Reminder, *events: tuple[EventType, int]) -> list[str]:
                due = item.due_date_time
                return [f"{call_id}.{t}.{reminder_key(item.title, due, n)}" for t, n in events]

            expected = {
                call_back.title: ids(call_back, ("reminder.fired", 1), ("reminder.completed", 1)),
                text.title: ids(
                    text, ("reminder.fired", 1), ("reminder.fired", 2), ("reminder.failed", 2)
                ),
                dropped.title: ids(dropped, ("reminder.cancelled", 0)),
            }
            every = [i for item in expected.values() for i in item]
            await delivered(client, every, 30)
            await asyncio.sleep(1)  # a duplicate delivery would arrive by now
    finally:
        await receiver.stop()

    assert receiver.invalid == []
    for path in ("crm", "call"):
        got = bodies(receiver, path, "reminder.")
        assert sorted(got) == sorted(every), (path, sorted(got))
    crm = bodies(receiver, "crm", "reminder.")
    completed = crm[expected[call_back.title][1]]["data"]
    assert completed["kind"] == "call" and completed["status"] == "sent"
    # The call back is named: its own call.* events carry its outcome.
    assert completed["follow_up_call_id"] == follow_up_call_id(call_id, call_back)
    assert completed["call_id"] == call_id and completed["attempt"] == 1
    fired = [crm[i]["data"] for i in expected[text.title][:2]]
    assert [(f["kind"], f["attempt"], f["max_attempts"]) for f in fired] == [
        ("sms", 1, 2),
        ("sms", 2, 2),
    ]
    failed = crm[expected[text.title][2]]["data"]
    assert (failed["status"], failed["attempt"]) == ("failed", 2)
    cancelled = crm[expected[dropped.title][0]]["data"]
    assert (cancelled["status"], cancelled["attempt"]) == ("cancelled", 0)
    raw = json.dumps(list(crm.values()))
    assert NUMBERS[0] not in raw and "+33698765432" not in raw  # no number, no error text
    assert "directory" not in raw


# --- campaigns -------------------------------------------------------------------------------


async def test_a_campaign_sends_its_events_to_its_own_endpoint_and_the_deployments(
    temporal_env: WorkflowEnvironment,
    redis_url: str,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
) -> None:
    client = temporal_env.client
    receiver = Receiver(free_port(), {"crm": CRM_SECRET, "campaign": CALL_SECRET}, refuse=0)
    await receiver.start()
    base = make_settings(
        tmp_path, redis_url, scripted_llm, client.service_client.config.target_host
    )
    settings = with_webhooks(base, receiver)
    try:
        async with webhook_stack(client, settings) as (api, _):
            refused = await api.post(
                "/campaigns",
                json={
                    "contacts": [{"phone_number": NUMBERS[0]}],
                    "webhook_url": "https://user:pw@example.com/hooks",
                },
            )
            assert refused.status_code == 422 and "credentials" in refused.text, refused.text
            created = await api.post(
                "/campaigns",
                json={
                    "name": "webhooks",
                    "contacts": [
                        {"phone_number": n, "variables": {"first_name": f"P{i}"}}
                        for i, n in enumerate(NUMBERS)
                    ],
                    "call": {"task": "Call {first_name} about the quote."},
                    "concurrency": 2,
                    "starts_per_second": None,
                    "paused": True,
                    "webhook_url": receiver.url("campaign"),
                },
            )
            assert created.status_code == 201, created.text
            cid = created.json()["campaign_id"]
            await enqueued(client, f"{cid}.campaign.started")
            # Resumed, paused, resumed: each change is its own event (seq 1, 2, 3).
            for seq, action in enumerate(("resume", "pause", "resume"), start=1):
                answer = await api.post(f"/campaigns/{cid}/{action}")
                assert answer.status_code == 202, answer.text
                kind = "paused" if action == "pause" else "resumed"
                await enqueued(client, f"{cid}.campaign.{kind}.{seq}")
            # Each contact's call (chat channel): the callee says goodbye, the bot ends it.
            call_ids = [call_id_for(cid, seq, 1) for seq in range(len(NUMBERS))]
            for call_id in call_ids:
                scripted_llm.state.add(
                    ScriptedReply(
                        text="Goodbye!",
                        tool_calls=[ScriptedToolCall(name="end_call", arguments={})],
                    ),
                    user=call_id,
                )
            for call_id in call_ids:
                for _ in range(200):
                    if (await api.get(f"/call/{call_id}")).status_code == 200:
                        break
                    await asyncio.sleep(0.1)
                said = await api.post(f"/call/{call_id}/messages", json={"text": "No thanks, bye."})
                assert said.json()["ended"] is True, said.text
            view = await wait_finished(api, cid, 60)
            assert view["outcomes"] == {"completed": 2}, view
            events = [
                f"{cid}.campaign.started",
                f"{cid}.campaign.resumed.1",
                f"{cid}.campaign.paused.2",
                f"{cid}.campaign.resumed.3",
                f"{cid}.campaign.completed",
            ]
            for event in events:  # the store says completed a moment before the event
                await enqueued(client, event)
            await delivered(client, events, 60)
            # The campaign's calls report to its endpoint too (their call.ended).
            for call_id in call_ids:
                await enqueued(client, f"{call_id}.call.ended")
                await delivered(client, [f"{call_id}.call.ended"], 60)
            # Every call closed (post-call priced it again): the view sums the final costs.
            for call_id in call_ids:
                handle = client.get_workflow_handle(f"call-{call_id}")
                await asyncio.wait_for(handle.result(), 60)
            costs = [
                (await api.get(f"/call/{i}")).json()["call"]["usage"]["cost"] for i in call_ids
            ]
            view = (await api.get(f"/campaigns/{cid}")).json()
            page = (await api.get(f"/report/campaigns/{cid}")).text
            await asyncio.sleep(1)  # a duplicate delivery would arrive by now
    finally:
        await receiver.stop()

    # Cost per campaign: the calls' priced usage summed, and per completed contact.
    total = round(sum(c["total"] for c in costs), 6)
    assert total > 0
    assert view["cost"] == {
        "currency": settings.prices.currency,
        "total": total,
        "calls": 2,
        "priced_calls": 2,
        "unpriced_calls": 0,
        "completed_contacts": 2,
        "per_completed_contact": round(total / 2, 6),
        "other_currencies": {},
    }, view["cost"]
    # And on the campaign's report page.
    cost = view["cost"]
    shown = f"{cost['total']:.4f} {cost['currency']}, {cost['per_completed_contact']:.4f} per"
    assert f'<dd id="cost">{shown} completed contact</dd>' in page, page

    assert receiver.invalid == []
    for path in ("crm", "campaign"):
        got = bodies(receiver, path, "campaign.")
        assert sorted(got) == sorted(events), (path, sorted(got))
    calls = bodies(receiver, "campaign", "call.ended")
    assert sorted(b["data"]["call_id"] for b in calls.values()) == sorted(call_ids)
    crm = bodies(receiver, "crm", "campaign.")
    started = crm[events[0]]["data"]
    assert started == {
        "campaign_id": cid,
        "contacts": 2,
        "done": 0,
        "in_flight": 0,
        "dials": 0,
        "max_in_flight": 0,
        "status": "paused",
    }
    assert crm[events[2]]["type"] == "campaign.paused"
    completed = crm[events[-1]]["data"]
    assert completed["results"] == {"completed": 2} and completed["done"] == 2
    assert (completed["dials"], completed["contacts"], completed["runs"]) == (2, 2, 1)
    # The cost when the campaign completed: each call as priced when it ended (post-call may
    # price it again later, never lower).
    cost = completed["cost"]
    assert (cost["calls"], cost["priced_calls"], cost["completed_contacts"]) == (2, 2, 2)
    assert cost["currency"] == settings.prices.currency and 0 < cost["total"] <= total
    assert cost["per_completed_contact"] == round(cost["total"] / 2, 6)
    raw = json.dumps(list(crm.values()))
    assert all(n not in raw for n in NUMBERS)  # counts and ids, never a number
