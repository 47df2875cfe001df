"""Per-contact variables: they fill the task's `{placeholders}` and prefill the claim fields
they are named after, checked against each field's type (422 naming the contact, the field and
why), on the real stack (dev server, SQLite, scripted LLM over HTTP; calls on the chat channel).
"""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from domain.call import CallInitiate
from domain.campaign import call_id_for
from scripted_llm.script import ScriptedReply, ScriptedToolCall
from tests.campaigns.harness import wait_finished
from tests.conftest import Stack

CLAIM = [
    {"name": "policy_number", "type": "text"},
    {"name": "incident_datetime", "type": "datetime"},
]
TASK = "Call {first_name} about the renewal of policy {policy_number}."


async def test_contact_variables_fill_the_task_and_prefill_the_claim(stack: Stack) -> None:
    contact = {
        "phone_number": "+33612000401",
        "variables": {
            "first_name": "Ann",
            "policy_number": "B-1",
            "policyholder_email": "Ann.Lee@Example.com",
            "incident_datetime": "2026-12-01 10:30",  # read in the callee's zone (Paris)
            "segment": "gold",  # neither a placeholder nor a claim field: kept, unused
        },
    }
    created = await stack.api.post(
        "/campaigns",
        json={
            "contacts": [contact],
            "call": {"task": TASK, "claim": CLAIM},
            "starts_per_second": None,
        },
    )
    assert created.status_code == 201, created.text
    campaign_id = created.json()["campaign_id"]
    call_id = call_id_for(campaign_id, 0, 1)
    for _ in range(200):
        response = await stack.api.get(f"/call/{call_id}")
        if response.status_code == 200:
            break
        await asyncio.sleep(0.1)
    call = response.json()["call"]
    assert call["initiate"]["task"].startswith("Call Ann about the renewal of policy B-1.")
    # The call starts with the known values, normalised as the bot's own updates are.
    assert call["claim"] == {
        "policy_number": "B-1",
        "policyholder_email": "Ann.Lee@example.com",
        "incident_datetime": "2026-12-01T10:30:00+01:00",
    }
    stack.llm.state.add(
        ScriptedReply(
            text="Thank you, goodbye!",
            tool_calls=[ScriptedToolCall(name="end_call", arguments={})],
        ),
        user=call_id,
    )
    said = await stack.say(call_id, "Yes, that's right. Bye.")
    assert said.json()["ended"] is True, said.text
    view = await wait_finished(stack.api, campaign_id, 60)
    assert view["outcomes"] == {"completed": 1}


@pytest.mark.parametrize(
    ("variables", "reason"),
    [
        ({"policy_number": "B-1"}, "no value for {first_name}"),
        ({"first_name": "Ann"}, "no value for {policy_number}"),
        (
            {"first_name": "Ann", "policy_number": "B-1", "policyholder_email": "ann-at-home"},
            "policyholder_email (email)",
        ),
        (
            {"first_name": "Ann", "policy_number": "B-1", "incident_datetime": "last week"},
            "incident_datetime (datetime)",
        ),
        (
            {"first_name": "Ann", "policy_number": "B-1", "policyholder_phone": "12"},
            "policyholder_phone (phone_number)",
        ),
    ],
)
async def test_a_contact_whose_values_do_not_fit_is_refused_with_the_reason(
    stack: Stack, variables: dict[str, str], reason: str
) -> None:
    good = {"phone_number": "+33612000402", "variables": {"first_name": "Bo", "policy_number": "2"}}
    bad = {"phone_number": "+33612000403", "variables": variables}
    response = await stack.api.post(
        "/campaigns", json={"contacts": [good, bad], "call": {"task": TASK, "claim": CLAIM}}
    )
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    assert [d["field"] for d in details] == ["contacts.1"], details
    assert reason in details[0]["reason"], details


def test_a_prefill_names_a_field_of_the_claim() -> None:
    base = {
        "phone_number": "+33612000404",
        "bot_company": "Contoso",
        "bot_name": "Amélie",
        "agent_phone_number": "+33698765432",
    }
    with pytest.raises(ValidationError, match="colour is not a field of the claim"):
        CallInitiate.model_validate({**base, "claim_prefill": {"colour": "red"}})
    ok = CallInitiate.model_validate({**base, "claim_prefill": {"policyholder_name": " Ann  Lee"}})
    assert ok.claim_prefill == {"policyholder_name": "Ann Lee"}
