"""Post-call results built from the call's facts (small models, and a hosted model's unusable
answers): what the claim recorded, never the model's refusal."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from domain.after_call import next_from_facts, sms_from_facts, synthesis_from_facts
from domain.call import (
    Action,
    CallInitiate,
    CallState,
    ClosedClaim,
    Message,
    NextAction,
    Persona,
    Reminder,
)
from domain.claim import ClaimField, ClaimFieldType
from domain.prompts import post_call_context
from providers.sms.outbox import OutboxSms
from scripted_llm.script import Match, ScriptedReply, ScriptedToolCall
from tests.conftest import Stack
from workflows.call import CallWorkflow

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
REFUSAL = "I'm sorry, but I can't assist with that."
IT_SUPPORT = [
    ClaimField(name="issue_description", type=ClaimFieldType.TEXT, description="The problem"),
    ClaimField(name="hardware_info", type=ClaimFieldType.TEXT),
    ClaimField(name="started_at", type=ClaimFieldType.DATETIME, description="When it started"),
]


def call_with(claim: dict[str, str | None], lang: str = "en-US", **state: object) -> CallState:
    initiate = CallInitiate(
        phone_number="+33612345678",
        bot_company="Contoso",
        bot_name="Amélie",
        agent_phone_number="+33698765432",
        claim=IT_SUPPORT,
    )
    messages = [
        Message(created_at=NOW, persona=Persona.HUMAN, action=Action.CALL),
        Message(created_at=NOW, persona=Persona.HUMAN, content="My laptop does not boot."),
        Message(created_at=NOW, persona=Persona.ASSISTANT, content=REFUSAL),
    ]
    return CallState(
        call_id="c1",
        created_at=NOW,
        initiate=initiate,
        claim=claim,
        messages=messages,
        lang_short_code=lang,
        **state,
    )


def test_the_synthesis_lists_what_was_recorded_and_what_is_missing() -> None:
    call = call_with(
        {
            "issue_description": "the laptop does not boot",
            "started_at": "2026-03-01T08:00:00+01:00",
            "policyholder_name": "Jean Dupont",
        }
    )
    synthesis = synthesis_from_facts(call)
    assert synthesis.short == "the laptop does not boot"
    assert "- Issue description: the laptop does not boot" in synthesis.long
    assert "- Started at: 01 Mar 2026, 08:00" in synthesis.long
    assert "**Still missing**: hardware info, policyholder email" in synthesis.long
    assert REFUSAL not in synthesis.long and "sorry" not in synthesis.long.lower()
    assert synthesis.satisfaction == "unknow"  # a template cannot judge it
    assert synthesis.improvement_suggestions.endswith("hardware info, policyholder email.")


def test_the_next_action_follows_the_facts() -> None:
    missing = next_from_facts(call_with({"issue_description": "no boot"}))
    assert missing.action is NextAction.CUSTOMER_WILL_SEND_INFO
    assert missing.justification.startswith("Still missing: hardware info, started at")
    complete = call_with(
        {
            "issue_description": "no boot",
            "hardware_info": "ThinkPad T14",
            "started_at": "2026-03-01T08:00:00+01:00",
            "policyholder_name": "Jean Dupont",
            "policyholder_email": "jean@example.com",
        }
    )
    assert next_from_facts(complete).action is NextAction.REQUIRES_EXPERTISE


def test_the_sms_is_in_the_callers_language_and_names_the_call_back() -> None:
    reminder = Reminder(
        created_at=NOW, title="Call back", due_date_time=NOW + timedelta(days=1, hours=1)
    )
    call = call_with(
        {"issue_description": "l'ordinateur ne démarre plus", "policyholder_name": "Jean"},
        lang="fr-FR",
        reminders=[reminder],
    )
    sms = sms_from_facts(call)
    assert sms == (
        "Merci, Jean pour votre appel. Nous avons enregistré votre demande : l'ordinateur ne "
        "démarre plus. Nous vous rappellerons le 03/03 11:30. Amélie, Contoso"
    )
    # Nothing recorded: no "we recorded" sentence, and English for a language without a table.
    empty = sms_from_facts(call_with({}, lang="en-US"))
    assert empty == (
        "Thank you for your call. A few details are still missing: we will contact you. "
        "Amélie, Contoso"
    )


def test_a_long_topic_is_cut_at_a_word_and_ends_the_sentence() -> None:
    words = "my laptop does not boot since the update of this morning and I would like to " * 3
    sms = sms_from_facts(call_with({"issue_description": words}))
    about = sms.split("We recorded your request: ", 1)[1].split("…", 1)[0]
    assert words.startswith(about) and not about.endswith(" ")
    assert "…." not in sms and "… " in sms


def test_a_closed_claim_is_mentioned() -> None:
    closed = ClosedClaim(closed_at=NOW, claim={"issue_description": "printer"}, reminders=[])
    call = call_with({"issue_description": "no boot"}, closed_claims=[closed])
    long = synthesis_from_facts(call).long
    assert "**Earlier claims in this call**: 1\n- Claim 1: Issue description: printer" in long


async def test_a_small_model_call_gets_its_post_call_without_the_model(stack: Stack) -> None:
    stack.settings.llm.profile = "small"  # the worker reads it when the call's first turn runs
    call_id = await stack.start_call()
    stack.llm.state.add(ScriptedReply(text=REFUSAL), user=call_id)
    await stack.say(call_id, "My email is jean dot dupont at example dot com.")
    asked = len(stack.llm.state.requests(user=call_id))
    reply = (await stack.say(call_id, "That's all, goodbye.")).json()
    assert reply["ended"] is True
    handle = stack.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    final = await asyncio.wait_for(handle.result(), 30)

    assert len(stack.llm.state.requests(user=call_id)) == asked  # post-call asked no model
    assert final.synthesis is not None and final.next is not None
    assert final.claim["policyholder_email"] == "jean.dupont@example.com"
    # Every value the call stored is in the synthesis, and nothing the model said.
    for name, value in final.claim.items():
        assert f"{name.replace('_', ' ').capitalize()}: {value}" in final.synthesis.long
    assert final.next.action is NextAction.CUSTOMER_WILL_SEND_INFO
    sent = OutboxSms(stack.settings.sms.outbox_path).read()
    assert sent[-1]["body"].startswith("Thank you for your call.")
    assert sent[-1]["body"].endswith("A few details are still missing: we will contact you. "
                                     "Amélie, Contoso")  # fmt: skip
    texts = [final.synthesis.long, final.synthesis.short, final.next.justification]
    assert not [t for t in [*texts, sent[-1]["body"]] if "sorry" in t.lower()]


async def test_a_hosted_models_refusal_is_replaced_by_the_facts(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(
        ScriptedReply(
            tool_calls=[
                ScriptedToolCall(
                    name="updated_claim",
                    arguments={
                        "updates": [{"field": "incident_location", "value": "Lyon station"}]
                    },
                )
            ]
        ),
        ScriptedReply(text="Goodbye!", tool_calls=[ScriptedToolCall(name="end_call")]),
        user=call_id,
    )
    synthesis = {
        "long": REFUSAL,
        "short": "accident",
        "satisfaction": "high",
        "improvement_suggestions": "",
    }
    stack.llm.state.add(
        *[
            ScriptedReply(
                text=json.dumps(synthesis),
                match=Match(user=call_id, last_user_contains="Synthesis JSON"),
            )
        ],
        ScriptedReply(
            text=json.dumps({"action": "case_closed", "justification": "Done."}),
            match=Match(user=call_id, last_user_contains="Next JSON"),
        ),
        *[
            ScriptedReply(text=REFUSAL, match=Match(user=call_id, last_user_contains="Write the"))
            for _ in range(3)
        ],
    )
    await stack.say(call_id, "It happened at Lyon station. Goodbye.")
    handle = stack.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    final = await asyncio.wait_for(handle.result(), 30)

    assert final.synthesis is not None and REFUSAL not in final.synthesis.long
    assert "- Incident location: Lyon station" in final.synthesis.long
    assert final.next is not None and final.next.action == "case_closed"  # usable: kept
    sent = OutboxSms(stack.settings.sms.outbox_path).read()
    assert sent[-1]["body"].startswith("Thank you for your call. We recorded your request: Lyon")


def test_a_hosted_model_is_shown_the_closed_claims_too() -> None:
    closed = ClosedClaim(closed_at=NOW, claim={"issue_description": "printer"}, reminders=[])
    call = call_with({"issue_description": "no boot"}, closed_claims=[closed])
    context = post_call_context(call, NOW)
    current, earlier = context["claim"].split("\n\n# Claims closed earlier in this call (JSON)\n")
    assert json.loads(current) == {"issue_description": "no boot"}
    assert json.loads(earlier)[0]["claim"] == {"issue_description": "printer"}
