"""Warm transfer end to end: API, dev server, worker, gateway and the ACS emulator, with the
real ACS SDK. The caller asks for a person; the bot holds them, rings the agent in, briefs the
agent alone on the claim so far and listens for their key. 1: the bot leaves caller and agent
talking (`transferred`). 2, a hang-up or no answer: the caller is back with the bot, hears an
apology, and a call-back reminder is scheduled. Cold transfer stays available by setting."""

from __future__ import annotations

from typing import Any

from acs_emulator.models import CallRecord
from domain.briefing import REMINDER_TITLE
from tests.telephony.test_phone_calls import AGENT, CUSTOMER, ONE_LANGUAGE, Phone, say
from tests.telephony.test_phone_calls import phone as phone  # noqa: F401 - the fixture
from tests.workflows.test_conversations import claim_update
from workflows.reminder import ReminderWorkflow, reminder_workflow_id

HOLD = "I'm connecting you to an agent, please hold."
APOLOGY = "Sorry, I could not reach an agent. Let's continue together. An agent will call you back."


async def ask_for_a_person(phone: Phone, **call: Any) -> tuple[str, str]:
    """A call whose caller gives their name and place, then asks for a person."""
    call_id = await phone.call(lang=ONE_LANGUAGE, **call)
    connection_id = await phone.connection(call_id)
    phone.llm.state.add(
        claim_update(("policyholder_name", "Jane Miller"), ("incident_location", "Lyon")),
        say("", "talk_to_human"),
        user=call_id,
    )
    text = "I'm Jane Miller, my car was hit in Lyon. Can I talk to a person, please?"
    reply = await phone.api.post(f"/call/{call_id}/messages", json={"text": text})
    assert reply.status_code == 200, reply.text
    return call_id, connection_id


def apologised(call: CallRecord) -> bool:
    return any(p.operation_context == "transfer_failed" for p in call.plays)


async def back_with_the_bot(phone: Phone, call_id: str, connection_id: str) -> CallRecord:
    """The caller is off hold and hears the apology; the call-back reminder is scheduled."""
    record = await phone.phones.wait_for_call(connection_id, apologised, timeout=15)
    assert record.state == "connected" and record.on_hold == []
    assert [h.action for h in record.holds] == ["hold", "unhold"]
    apology = next(p for p in record.plays if p.operation_context == "transfer_failed")
    assert apology.sources[0].text == APOLOGY and apology.play_to == []  # the caller hears it
    state = await phone.wait_status(call_id, "in_progress")
    assert state["handoff"]["status"] == "failed"
    reminder = next(r for r in state["reminders"] if r["title"] == REMINDER_TITLE)
    assert reminder["owner"] == "agent" and "Jane Miller" in reminder["description"]
    handle = phone.client.get_workflow_handle_for(
        ReminderWorkflow.run, reminder_workflow_id(call_id, REMINDER_TITLE)
    )
    assert (await handle.query(ReminderWorkflow.get_reminder)).status == "scheduled"
    await handle.terminate("test over")
    return record


async def caller_leaves(phone: Phone, call_id: str, connection_id: str) -> None:
    await phone.phones.hang_up(connection_id)
    state = await phone.wait_status(call_id, "ended")
    assert state["outcome"] == "transfer_failed"


async def test_the_agent_hears_the_briefing_presses_1_and_the_bot_leaves(phone: Phone) -> None:
    await phone.phones.add_phone(AGENT, keys="1")
    call_id, connection_id = await ask_for_a_person(phone)
    record = await phone.phones.wait_for_state(connection_id, "disconnected", timeout=15)
    # The caller heard the hold phrase; the briefing went to the agent alone.
    notice = next(p for p in record.plays if p.operation_context == "transfer_notice")
    assert notice.sources[0].text == HOLD and notice.play_to == []
    briefing = next(p for p in record.plays if p.operation_context == "transfer_briefing")
    assert briefing.play_to == [f"4:{AGENT}"]
    agent = record.added[-1]
    heard = " ".join(agent.heard)
    assert "Jane Miller" in heard and "Lyon" in heard and "Can I talk to a person" in heard
    assert heard.endswith("Press 1 to take the call, or 2 to decline.")
    assert agent.dtmf_pressed == ["1"] and agent.state == "joined"
    assert record.recognizes[-1].target == f"4:{AGENT}"
    # Held while the agent was briefed, then off hold; the bot left the two of them talking.
    assert [(h.action, h.target) for h in record.holds] == [
        ("hold", f"4:{CUSTOMER}"),
        ("unhold", f"4:{CUSTOMER}"),
    ]
    assert record.continued_between == [f"4:{CUSTOMER}", f"4:{AGENT}"]
    assert record.hang_up is not None and record.hang_up.by == "bot"
    assert record.transfers == []  # no cold transfer
    state = await phone.wait_status(call_id, "ended")
    assert state["outcome"] == "transferred" and state["handoff"]["status"] == "transferring"


async def test_an_agent_pressing_2_gives_the_caller_back_with_a_reminder(phone: Phone) -> None:
    await phone.phones.add_phone(AGENT, keys="2")
    call_id, connection_id = await ask_for_a_person(phone)
    record = await back_with_the_bot(phone, call_id, connection_id)
    assert record.added[-1].dtmf_pressed == ["2"] and record.added[-1].state == "removed"
    # The conversation goes on with the bot.
    phone.llm.state.add(say("Let's go on with your claim."), user=call_id)
    reply = await phone.api.post(f"/call/{call_id}/messages", json={"text": "OK."})
    assert reply.json()["text"] == "Let's go on with your claim."
    await caller_leaves(phone, call_id, connection_id)


async def test_an_agent_who_does_not_answer_gives_the_caller_back(phone: Phone) -> None:
    await phone.phones.add_phone(AGENT, answer="never")  # rings out (30 s, x0.02 here)
    call_id, connection_id = await ask_for_a_person(phone)
    record = await back_with_the_bot(phone, call_id, connection_id)
    assert record.added[-1].state in ("failed", "canceled") and record.added[-1].heard == []
    await caller_leaves(phone, call_id, connection_id)


async def test_an_agent_who_hangs_up_gives_the_caller_back(phone: Phone) -> None:
    await phone.phones.add_phone(AGENT, keys="1", hang_up_after_ms=0)  # picks up, hangs up
    call_id, connection_id = await ask_for_a_person(phone)
    record = await back_with_the_bot(phone, call_id, connection_id)
    assert record.added[-1].state == "left" and record.added[-1].dtmf_pressed == []
    await caller_leaves(phone, call_id, connection_id)


async def test_cold_transfer_by_setting(phone: Phone) -> None:
    phone.settings.conversation.transfer_mode = "cold"  # the API reads it for each new call
    await phone.phones.add_phone(AGENT)
    call_id, connection_id = await ask_for_a_person(phone)
    record = await phone.phones.wait_for_call(
        connection_id, lambda c: bool(c.transfers) and c.transfers[-1].outcome == "accepted"
    )
    assert record.added == [] and record.holds == []
    state = await phone.wait_status(call_id, "ended")
    assert state["initiate"]["transfer_mode"] == "cold"
    assert state["outcome"] == "transferred"


async def test_a_call_may_ask_for_a_cold_transfer(phone: Phone) -> None:
    await phone.phones.add_phone(AGENT)
    call_id, connection_id = await ask_for_a_person(phone, transfer_mode="cold")
    await phone.phones.wait_for_call(
        connection_id, lambda c: bool(c.transfers) and c.transfers[-1].outcome == "accepted"
    )
    assert (await phone.wait_status(call_id, "ended"))["outcome"] == "transferred"


async def test_a_caller_hanging_up_on_hold_ends_the_call_and_frees_the_agent(phone: Phone) -> None:
    await phone.phones.configure(time_scale=1.0)  # the agent takes their 15 s to answer
    await phone.phones.add_phone(AGENT)  # picks up, presses nothing
    call_id, connection_id = await ask_for_a_person(phone)

    def briefed(c: CallRecord) -> bool:
        return bool(c.recognizes) and c.recognizes[-1].status == "listening"

    await phone.phones.wait_for_call(connection_id, briefed, timeout=15)
    await phone.phones.hang_up(connection_id)  # the agent is still on: the call goes on
    record = await phone.phones.wait_for_state(connection_id, "disconnected", timeout=15)
    assert record.phone_left_at is not None and record.continued_between == []
    assert record.hang_up is not None and record.hang_up.by == "bot"  # ended for everyone
    assert record.added[-1].state == "left" and record.recognizes[-1].status == "canceled"
    state = await phone.wait_status(call_id, "ended")
    assert state["outcome"] == "transfer_failed"
    assert state["handoff"]["detail"] == "the caller hung up while on hold"
    assert any(r["title"] == REMINDER_TITLE for r in state["reminders"])
    handle = phone.client.get_workflow_handle_for(
        ReminderWorkflow.run, reminder_workflow_id(call_id, REMINDER_TITLE)
    )
    await handle.terminate("test over")
