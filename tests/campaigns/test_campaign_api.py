"""The campaign API on the real stack (dev server, SQLite): clear errors for bad input, the
progress view, the report page (numbers masked), search attributes; and the pure rules."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cli.campaigns import read_contacts
from domain.call import Action, CallInitiate, CallState, Message, Persona
from domain.campaign import (
    RetryRules,
    asked_not_to_be_called,
    fill_task,
    outcome_of,
    retry_delay,
)
from domain.outcome import CallOutcome
from domain.templating import TemplateError
from tests.conftest import Stack

NUMBERS = ["+33612000101", "+33612000102", "+14155550123"]


async def test_bad_campaigns_are_refused_with_their_reason(stack: Stack) -> None:
    good = {"phone_number": NUMBERS[0]}
    cases = [
        ({"contacts": []}, "contacts"),
        ({"contacts": [{"phone_number": "0612"}]}, "E.164"),
        ({"contacts": [good], "concurrency": 0}, "concurrency"),
        ({"contacts": [good], "calling_hours": {"start": "20:00", "end": "08:00"}}, "before"),
        ({"contacts": [good], "retry": {"busy": {"delay_sec": -1, "count": 1}}}, "delay_sec"),
        ({"contacts": [good], "call": {"task": "Hi {first_name}"}}, "contacts.0"),
        ({"contacts": [good], "call": {"task": "Hi {name.attr}"}}, "bare name"),
    ]
    for body, reason in cases:
        response = await stack.api.post("/campaigns", json=body)
        assert response.status_code == 422, (body, response.text)
        assert reason in response.text, (reason, response.text)
    assert (await stack.api.get("/campaigns/nope")).status_code == 404
    assert (await stack.api.post("/campaigns/nope/pause")).status_code == 404
    page = await stack.api.get("/report/campaigns/nope")
    assert page.status_code == 404 and "Campaign not found" in page.text


async def test_a_paused_campaign_shows_its_progress_and_cancels(stack: Stack) -> None:
    contacts = [
        {"phone_number": number, "variables": {"first_name": f"P{i}"}}
        for i, number in enumerate(NUMBERS)
    ]
    response = await stack.api.post(
        "/campaigns",
        json={
            "name": "quotes <b>Q4</b>",
            "contacts": contacts,
            "call": {"task": "Call {first_name} about the quote."},
            "paused": True,
        },
    )
    assert response.status_code == 201, response.text
    campaign_id = response.json()["campaign_id"]
    view = (await stack.api.get(f"/campaigns/{campaign_id}")).json()
    assert view["status"] == "paused" and view["contacts"] == 3
    assert view["states"] == {"pending": 3} and view["live"] is True
    added = await stack.api.post(
        f"/campaigns/{campaign_id}/contacts", json={"contacts": [{"phone_number": NUMBERS[0]}]}
    )
    assert added.status_code == 422 and "contacts.3" in added.text  # {first_name} missing

    # Progress by search attribute: the campaign is found by its id.
    query = f"CampaignId = '{campaign_id}'"
    for _ in range(50):
        found = [w.id async for w in stack.client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.1)
    assert found == [f"campaign-{campaign_id}"]

    page = await stack.api.get(f"/report/campaigns/{campaign_id}")
    assert page.status_code == 200
    assert "quotes &lt;b&gt;Q4&lt;/b&gt;" in page.text  # escaped
    assert "+3361…0101" in page.text and NUMBERS[0] not in page.text  # masked
    assert page.headers["content-security-policy"].startswith("default-src 'none'")

    cancelled = await stack.api.post(f"/campaigns/{campaign_id}/cancel")
    assert cancelled.status_code == 202
    for _ in range(100):
        view = (await stack.api.get(f"/campaigns/{campaign_id}")).json()
        if view["status"] == "cancelled":
            break
        await asyncio.sleep(0.1)
    assert view["status"] == "cancelled" and view["outcomes"] == {"cancelled": 3}
    assert (await stack.api.post(f"/campaigns/{campaign_id}/resume")).status_code == 409
    page = await stack.api.get(f"/report/campaigns/{campaign_id}")
    assert 'data-outcome="cancelled"' in page.text


def test_retry_rules() -> None:
    rules = RetryRules.model_validate({"busy": {"delay_sec": 60, "count": 2}})
    assert retry_delay(CallOutcome.BUSY, 1, rules) == 60
    assert retry_delay(CallOutcome.BUSY, 2, rules) == 60
    assert retry_delay(CallOutcome.BUSY, 3, rules) is None
    assert retry_delay(CallOutcome.COMPLETED, 1, rules) is None
    assert retry_delay(CallOutcome.REJECTED, 1, rules) is None  # not retryable
    assert retry_delay(CallOutcome.NO_ANSWER, 1, rules) == 3_600  # the default rule


def test_task_filling_and_prefill() -> None:
    values = {"name": "Ann", "topic": "the quote", "policy_number": "B-1"}
    task = fill_task("Call {name} about {topic}.", values, ["policy_number"])
    assert task.startswith("Call Ann about the quote.")
    assert "policy_number: B-1" in task  # a claim field's value: confirmed, not asked
    with pytest.raises(TemplateError, match="no value for {topic}"):
        fill_task("Call {name} about {topic}.", {"name": "Ann"}, [])


def _call(*said: str) -> CallState:
    initiate = CallInitiate(
        phone_number=NUMBERS[0], bot_company="C", bot_name="B", agent_phone_number=NUMBERS[1]
    )
    now = datetime.now(UTC)
    messages = [Message(created_at=now, persona=Persona.HUMAN, action=Action.CALL)]
    messages += [Message(created_at=now, persona=Persona.HUMAN, content=text) for text in said]
    return CallState(call_id="c", created_at=now, initiate=initiate, messages=messages)


@pytest.mark.parametrize(
    ("said", "asked"),
    [
        ("Please don't call me again.", True),
        ("Stop calling this number!", True),
        ("Remove me from your list", True),
        ("Ne m'appelez plus, merci.", True),
        ("Arrêtez de m'appeler", True),
        ("Call me back tomorrow please", False),
        ("I don't know, call my wife", False),
    ],
)
def test_asking_not_to_be_called(said: str, asked: bool) -> None:
    assert asked_not_to_be_called(_call(said)) is asked


def test_outcome_of_a_call() -> None:
    assert outcome_of(_call("hello")) == CallOutcome.COMPLETED
    assert outcome_of(_call()) == CallOutcome.NO_ANSWER
    call = _call()
    call.outcome = CallOutcome.BUSY
    assert outcome_of(call) == CallOutcome.BUSY


def test_contacts_from_a_csv_file(tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("phone_number,first_name,policy_number\n+33612000101,Ann,B-1\n,Nobody,\n")
    assert read_contacts(path) == [
        {"phone_number": "+33612000101", "variables": {"first_name": "Ann", "policy_number": "B-1"}}
    ]
    path.write_text("number,first_name\n+33612000101,Ann\n")
    with pytest.raises(ValueError, match="no phone_number column"):
        read_contacts(path)
