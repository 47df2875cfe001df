"""Whole conversations through the API, on the real dev server, Redis, SQLite and HTTP LLM."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from temporalio.client import Client

from scripted_llm.script import ScriptedReply, ScriptedToolCall
from tests.conftest import Stack
from workflows.call import CallWorkflow
from workflows.reminder import ReminderWorkflow, reminder_workflow_id

HISTORIES = Path(__file__).parent / "histories"


async def record_history(stack: Stack | Client, call_id: str, name: str) -> None:
    """Save the call's history for the replay tests (`RECORD_HISTORIES=1`); a checked-in one is
    kept, as `tests/support/histories.py` keeps them: it is what older code recorded."""
    if not os.environ.get("RECORD_HISTORIES"):
        return
    if (HISTORIES / f"{name}.json").exists() and os.environ["RECORD_HISTORIES"] != "overwrite":
        return
    client = stack if isinstance(stack, Client) else stack.client
    history = await client.get_workflow_handle(f"call-{call_id}").fetch_history()
    HISTORIES.mkdir(exist_ok=True)
    (HISTORIES / f"{name}.json").write_text(history.to_json(), encoding="utf-8")


def claim_update(*pairs: tuple[str, str], say: str = "") -> ScriptedReply:
    updates = [{"field": f, "value": v} for f, v in pairs]
    args: dict[str, Any] = {"updates": updates}
    if say:
        args["customer_response"] = say
    return ScriptedReply(tool_calls=[ScriptedToolCall(name="updated_claim", arguments=args)])


def text(reply: str, **kwargs: Any) -> ScriptedReply:
    return ScriptedReply(text=reply, **kwargs)


async def get_call(stack: Stack, call_id: str) -> dict[str, Any]:
    response = await stack.api.get(f"/call/{call_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def sentences(stack: Stack, call_id: str) -> list[tuple[str, str, int]]:
    entries = await stack.sentences.read(call_id)
    return [(e.kind, e.text, e.turn_id) for _, e in entries]


async def test_car_accident_claim_filled_over_several_turns(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(
        claim_update(
            ("incident_description", "Rear-ended by a truck"),
            ("incident_datetime", "2026-11-25 08:30"),
        ),
        text("style=sad I'm sorry to hear that. Where did it happen?"),
        claim_update(("incident_location", "A6 motorway near Lyon, exit 33")),
        text("Thank you. Was anyone injured, and who else was involved?"),
        claim_update(
            ("injuries", "None"),
            ("involved_parties", "A white delivery truck, plate AB-123-CD"),
            ("witnesses", "Marie Curie, driving behind"),
        ),
        text("Good that nobody is hurt. What is your name, email and policy number?"),
        claim_update(
            ("policyholder_name", "Jean Dupont"),
            ("policyholder_email", "Jean.Dupont@Example.com"),
            ("policyholder_phone", "+33 6 12 34 56 78"),
            ("policy_number", "POL-889-221"),
            ("medical_records", "Not applicable"),
            ("pre_existing_damages", "Small scratch on the left door"),
        ),
        text("Thank you Jean, your claim is complete."),
        user=call_id,
    )
    turns = [
        # A date the caller says: the guardrails store only what the caller said.
        "Hello, a truck hit my car from behind on 25 November 2026 at 8:30.",
        "It was on the A6 near Lyon, exit 33.",
        "Nobody is hurt. It was a white delivery truck AB-123-CD, Marie Curie saw it.",
        "Jean Dupont, jean.dupont@example.com, +33 6 12 34 56 78, policy POL-889-221, "
        "no medical records, a small scratch on the left door already.",
    ]
    replies = []
    for turn in turns:
        response = await stack.say(call_id, turn)
        assert response.status_code == 200, response.text
        replies.append(response.json())

    assert replies[0]["text"] == "I'm sorry to hear that. Where did it happen?"
    assert replies[0]["tool_calls"] == ["updated_claim"]
    assert [r["turn_id"] for r in replies] == [1, 2, 3, 4]

    body = await get_call(stack, call_id)
    assert body["live"] is True
    assert body["call"]["claim"] == {
        "incident_description": "Rear-ended by a truck",
        "incident_datetime": "2026-11-25T08:30:00+01:00",  # read in the caller's timezone
        "incident_location": "A6 motorway near Lyon, exit 33",
        "injuries": "None",
        "involved_parties": "A white delivery truck, plate AB-123-CD",
        "witnesses": "Marie Curie, driving behind",
        "policyholder_name": "Jean Dupont",
        "policyholder_email": "Jean.Dupont@example.com",
        "policyholder_phone": "+33612345678",
        "policy_number": "POL-889-221",
        "medical_records": "Not applicable",
        "pre_existing_damages": "Small scratch on the left door",
    }
    # The sentences reached the Redis stream, tagged with their turn.
    spoken = await sentences(stack, call_id)
    assert ("sentence", "I'm sorry to hear that.", 1) in spoken
    assert ("sentence", "Thank you Jean, your claim is complete.", 4) in spoken
    # The second iteration saw the tool result of the first.
    requests = stack.llm.state.requests(user=call_id)
    tool_messages = [m for m in requests[1].messages if m["role"] == "tool"]
    assert 'Updated "incident_location"' not in str(tool_messages)
    assert 'Updated "incident_description"' in tool_messages[-1]["content"]
    # The stored copy matches the live state (persisted after every turn).
    stored = await stack.store.get(call_id)
    assert stored is not None and stored.claim == body["call"]["claim"]
    assert stored.last_turn_id == 4
    await record_history(stack, call_id, "car_accident_claim")


async def test_invalid_email_is_rejected_then_corrected(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(
        claim_update(("policyholder_name", "Jean Dupont"), ("policyholder_email", "jean.dupont@")),
        text("Could you spell your email again, please?"),
        claim_update(("policyholder_email", "jean.dupont@example.com")),
        text("Thank you, noted."),
        user=call_id,
    )
    first = await stack.say(call_id, "I'm Jean Dupont, my email is jean dot dupont at")
    assert first.json()["text"] == "Could you spell your email again, please?"
    call = (await get_call(stack, call_id))["call"]
    assert call["claim"] == {"policyholder_name": "Jean Dupont"}  # the valid field is kept
    tool_call = next(m for m in call["messages"] if m["tool_calls"])["tool_calls"][0]
    assert 'Rejected "policyholder_email"' in tool_call["content"]
    assert 'Updated "policyholder_name"' in tool_call["content"]

    second = await stack.say(call_id, "j e a n dot dupont at example dot com")
    assert second.status_code == 200
    call = (await get_call(stack, call_id))["call"]
    assert call["claim"]["policyholder_email"] == "jean.dupont@example.com"
    assert call["claim"]["policyholder_name"] == "Jean Dupont"
    await record_history(stack, call_id, "invalid_email_corrected")


async def test_reminder_created_then_updated(stack: Stack) -> None:
    call_id = await stack.start_call()

    def reminder(due: str, description: str) -> ScriptedReply:
        args = {"title": "Call back", "description": description, "due_date_time": due}
        return ScriptedReply(
            tool_calls=[ScriptedToolCall(name="new_or_updated_reminder", arguments=args)]
        )

    # Ahead of the real clock: this stack runs in real time, a past reminder would fire.
    friday = datetime.now(UTC).date() + timedelta(days=7)
    saturday = friday + timedelta(days=1)
    due = datetime.fromisoformat(f"{saturday} 15:30").replace(tzinfo=ZoneInfo("Europe/Paris"))
    stack.llm.state.add(
        reminder(f"{friday} 10:00", "Call the customer about the repair quote"),
        text("I will call you back on Friday at 10."),
        reminder(f"{saturday} 15:30", "Call about the repair quote and the rental car"),
        text("Done, Saturday at 3:30 pm then."),
        user=call_id,
    )
    await stack.say(call_id, "Can you call me back on Friday morning?")
    await stack.say(call_id, "Actually Saturday afternoon is better, and ask about a rental car.")
    reminders = (await get_call(stack, call_id))["call"]["reminders"]
    assert len(reminders) == 1
    assert reminders[0]["title"] == "Call back"
    assert reminders[0]["due_date_time"] == due.isoformat()  # read in the caller's timezone
    assert reminders[0]["description"] == "Call about the repair quote and the rental car"
    assert reminders[0]["updated_at"] is not None
    # The reminder is a durable workflow of its own, rescheduled by the update.
    handle = stack.client.get_workflow_handle_for(
        ReminderWorkflow.run, reminder_workflow_id(call_id, "Call back")
    )
    scheduled = await handle.query(ReminderWorkflow.get_reminder)
    assert scheduled.status == "scheduled"
    assert scheduled.due_date_time.isoformat() == due.isoformat()
    await handle.terminate("test over")


async def test_transfer_to_a_human_is_requested(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(
        ScriptedReply(tool_calls=[ScriptedToolCall(name="talk_to_human", arguments={})]),
        text("An agent will get back to you shortly."),
        user=call_id,
    )
    reply = (await stack.say(call_id, "I want to talk to a real person.")).json()
    assert reply["tool_calls"] == ["talk_to_human"]
    call = (await get_call(stack, call_id))["call"]
    assert call["handoff"]["target"] == "+33612345678"
    assert call["handoff"]["status"] == "queued"
    spoken = await sentences(stack, call_id)
    assert ("notice", "Of course, I'm transferring you to a human agent now.", 1) in spoken
    await record_history(stack, call_id, "transfer_to_human")


async def test_content_filter_drops_the_message_and_speaks_an_apology(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(ScriptedReply(error_code="content_filter"), user=call_id)
    reply = (await stack.say(call_id, "something the content filter blocks")).json()
    # The chat shows the apology the phone caller hears (patch chat-phrases-shown).
    assert reply["text"] == "Sorry, I can't talk about that. How else can I help with your claim?"
    call = (await get_call(stack, call_id))["call"]
    assert all("content filter blocks" not in m["content"] for m in call["messages"])
    kinds = [kind for kind, _, _ in await sentences(stack, call_id)]
    assert kinds == ["error"]
    assert len(stack.llm.state.requests(user=call_id)) == 1  # no retry, as the reference


async def test_hard_timeout_speaks_an_error_then_recovers(stack: Stack) -> None:
    await stack.flags.set("answer_hard_timeout_sec", "1")
    await stack.flags.set("answer_soft_timeout_sec", "30")
    call_id = await stack.start_call()
    stack.llm.state.add(
        text("This answer comes far too late.", delay_s=3),
        text("Sorry for the wait. How can I help?"),
        user=call_id,
    )
    reply = (await stack.say(call_id, "Hello?")).json()
    assert reply["text"] == "Sorry for the wait. How can I help?"
    spoken = await sentences(stack, call_id)
    assert spoken[0][0] == "error"
    assert ("sentence", "Sorry for the wait.", 1) in spoken
    assert "too late" not in str(spoken)
    call = (await get_call(stack, call_id))["call"]
    assert [m["content"] for m in call["messages"]][-1] == "Sorry for the wait. How can I help?"
    await record_history(stack, call_id, "hard_timeout_then_recovery")


async def test_soft_timeout_filler_is_spoken_but_never_stored(stack: Stack) -> None:
    await stack.flags.set("answer_soft_timeout_sec", "1")
    call_id = await stack.start_call()
    stack.llm.state.add(text("Here is your answer.", delay_s=1.6), user=call_id)
    await stack.say(call_id, "What is covered?")
    spoken = await sentences(stack, call_id)
    assert [k for k, _, _ in spoken] == ["filler", "sentence"]
    call = (await get_call(stack, call_id))["call"]
    assert all(spoken[0][1] not in m["content"] for m in call["messages"])


async def test_end_call_completes_the_workflow_and_the_store_answers(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(
        ScriptedReply(
            text="Goodbye!", tool_calls=[ScriptedToolCall(name="end_call", arguments={})]
        ),
        user=call_id,
    )
    reply = (await stack.say(call_id, "That's all, bye.")).json()
    assert reply["ended"] is True and reply["status"] == "ended"
    handle = stack.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    final = await asyncio.wait_for(handle.result(), 10)
    assert final.status == "ended"
    body = await get_call(stack, call_id)
    assert body["live"] is False and body["in_progress"] is False
    assert "hangup" in [m["action"] for m in body["call"]["messages"]]
    await record_history(stack, call_id, "end_call")
    late = await stack.say(call_id, "hello?")
    assert late.status_code == 409
    assert "ended" in late.json()["error"]["message"]
