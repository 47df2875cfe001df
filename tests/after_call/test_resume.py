"""After the call: a caller who calls back is welcomed back by the model where they were, a
completed call that is resumed gets a fresh post-call, and a chat shows what the bot says.

Real components: the Temporal dev server, the worker, the API, the media gateway and the ACS
emulator (phone), Redis, SQLite, the scripted LLM over HTTP.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from domain.phrases import render
from domain.prompts import CALL_BACK_HINT
from providers.sentences.redis_stream import RedisSentenceStream
from scripted_llm.script import Match, ScriptedReply, ScriptedToolCall
from tests.conftest import Stack
from tests.telephony.test_phone_calls import CUSTOMER, ONE_LANGUAGE, Phone, phone, say
from workflows.call import CallWorkflow

__all__ = ["phone"]  # the fixture, from the phone tests

HELLO = render("hello", "en-US", {}, bot_name="Amélie", bot_company="Contoso")
GOODBYE = render("goodbye", "en-US", {}, bot_name="Amélie", bot_company="Contoso")
TRANSFER = render("end_call_to_connect_agent", "en-US", {}, bot_name="Amélie", bot_company="")
WELCOME = "Welcome back! We were talking about your accident in Lyon."


def post_call_replies(call_id: str, short: str, sms: str) -> list[ScriptedReply]:
    synthesis = {
        "long": short,
        "short": short,
        "satisfaction": "high",
        "improvement_suggestions": "",
    }
    return [
        ScriptedReply(
            text=json.dumps(synthesis), match=Match(user=call_id, last_user_contains="Synthesis")
        ),
        ScriptedReply(
            text=json.dumps({"action": "requires_expertise", "justification": short}),
            match=Match(user=call_id, last_user_contains="Next JSON"),
        ),
        ScriptedReply(text=sms, match=Match(user=call_id, last_user_contains="Write the message")),
    ]


async def wait_for(phone: Phone, call_id: str, found: Any, timeout: float = 15) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        state = await phone.state(call_id)
        if found(state):
            return state
        said = [(m["persona"], m["action"], m["content"]) for m in state["messages"]]
        assert asyncio.get_running_loop().time() < deadline, (state["status"], said)
        await asyncio.sleep(0.05)


async def test_a_completed_call_resumed_is_welcomed_back_and_summarised_again(
    phone: Phone,
) -> None:
    call_id = await phone.call(lang=ONE_LANGUAGE)
    await phone.connection(call_id)
    phone.llm.state.add(
        ScriptedReply(
            tool_calls=[
                ScriptedToolCall(
                    name="updated_claim",
                    arguments={"updates": [{"field": "incident_location", "value": "Lyon"}]},
                )
            ]
        ),
        say("Noted, Lyon."),
        say("Goodbye!", "end_call"),
        *post_call_replies(call_id, "your accident in Lyon", "First summary. Amélie, Contoso"),
        user=call_id,
    )
    await phone.api.post(f"/call/{call_id}/messages", json={"text": "It happened in Lyon."})
    await phone.api.post(f"/call/{call_id}/messages", json={"text": "That's all, goodbye."})
    handle = phone.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    first = await asyncio.wait_for(handle.result(), 60)  # the bot hung up: the run completed
    assert first.synthesis is not None and first.synthesis.short == "your accident in Lyon"

    # The customer calls back: the completed call is resumed, and the model welcomes them back.
    phone.llm.state.add(
        ScriptedReply(text=WELCOME, match=Match(user=call_id, last_user_contains="action=call"))
    )
    dial = await phone.phones.dial(CUSTOMER)
    assert dial.delivered, dial.detail
    state = await wait_for(
        phone, call_id, lambda s: any(m["content"] == WELCOME for m in s["messages"])
    )
    assert state["status"] == "in_progress" and state["connection_id"] == dial.connection_id
    said = [m["content"] for m in state["messages"] if m["persona"] == "assistant"]
    assert said.count(HELLO) == 1  # the first call's greeting only
    welcome = next(m for m in state["messages"] if m["content"] == WELCOME)
    assert welcome["turn_id"] == state["last_turn_id"] == 3  # a turn of its own
    request = next(
        r for r in phone.llm.state.requests(user=call_id) if r.last_user_text == "action=call "
    )
    assert request.tools and "end_call" not in [t["function"]["name"] for t in request.tools]
    assert CALL_BACK_HINT in request.messages[1]["content"]
    # It sees where they were.
    assert any("Noted, Lyon." in str(m.get("content")) for m in request.messages)
    stream = [e.text for _, e in await RedisSentenceStream(phone.redis).read(call_id)]
    assert " ".join(stream).endswith(WELCOME)  # spoken on the new line, in its sentences

    # They go on and hang up with the bot: the resumed call is summarised and texted again.
    name = {"updates": [{"field": "policyholder_name", "value": "Jean Dupont"}]}
    phone.llm.state.add(
        ScriptedReply(
            text="Thank you Jean. Goodbye!",
            tool_calls=[
                ScriptedToolCall(name="updated_claim", arguments=name),
                ScriptedToolCall(name="end_call"),
            ],
        ),
        *post_call_replies(call_id, "your accident in Lyon, Jean", "Second summary. Amélie"),
        user=call_id,
    )
    await phone.api.post(
        f"/call/{call_id}/messages", json={"text": "I am Jean Dupont. That's all, goodbye."}
    )
    resumed = phone.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    final = await asyncio.wait_for(resumed.result(), 60)
    assert final.synthesis is not None and final.synthesis.short == "your accident in Lyon, Jean"
    assert final.post_call_at is not None and first.post_call_at is not None
    assert final.post_call_at > first.post_call_at
    bodies = [m.body for m in await phone.phones.sms_sent(CUSTOMER)]
    assert bodies == ["First summary. Amélie, Contoso", "Second summary. Amélie"]
    assert final.claim["incident_location"] == "Lyon"
    assert final.claim["policyholder_name"] == "Jean Dupont"


async def test_the_chat_reply_and_transcript_hold_the_bots_phrases(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(
        say("Let me find someone.", "talk_to_human"),
        say("An agent will call you."),
        say("Thank you.", "end_call"),
        user=call_id,
    )
    reply = (await stack.say(call_id, "I want to talk to a real person.")).json()
    assert reply["text"] == f"Let me find someone. {TRANSFER} An agent will call you."
    reply = (await stack.say(call_id, "Fine, that's all, goodbye.")).json()
    assert reply["text"] == f"Thank you. {GOODBYE}" and reply["ended"] is True

    state = (await stack.api.get(f"/call/{call_id}")).json()["call"]
    spoken = [(m["turn_id"], m["content"]) for m in state["messages"] if m["content"]]
    assert (1, TRANSFER) in spoken and (2, GOODBYE) in spoken
    actions = [m["action"] for m in state["messages"]]
    assert actions[-1] == "hangup"  # after the goodbye
    assert state["messages"][-2]["content"] == GOODBYE


async def test_a_dropped_small_model_call_is_welcomed_back_with_the_next_question(
    phone: Phone,
) -> None:
    phone.settings.llm.profile = "small"  # the worker reads it when the call's first turn runs
    call_id = await phone.call(lang=ONE_LANGUAGE)
    connection_id = await phone.connection(call_id)
    phone.llm.state.add(say("I am sorry to hear that."), user=call_id)
    await phone.api.post(
        f"/call/{call_id}/messages", json={"text": "My car was hit in Lyon yesterday."}
    )
    await phone.phones.hang_up(connection_id)  # the line drops: the call waits for a call back
    await phone.wait_status(call_id, "ended")
    before = len(phone.llm.state.requests(user=call_id))

    # (The small policy speaks one short statement of the model, no greeting word.)
    back = "We were talking about your car in Lyon."
    phone.llm.state.add(say(back), user=call_id)
    dial = await phone.phones.dial(CUSTOMER)
    assert dial.delivered, dial.detail
    state = await wait_for(phone, call_id, lambda s: s["messages"][-1]["action"] != "call")
    welcome = state["messages"][-1]
    assert welcome["turn_id"] == state["last_turn_id"] == 2
    # The small prompt said it was a call back; the bot's own next question follows.
    [request] = phone.llm.state.requests(user=call_id)[before:]
    assert CALL_BACK_HINT in request.messages[0]["content"]
    assert '"name": "end_call"' not in request.messages[0]["content"]  # not offered
    assert '"name": "updated_claim"' in request.messages[0]["content"]
    assert welcome["content"].startswith(back + " ") and welcome["content"].endswith("?")
    said = [m["content"] for m in state["messages"] if m["persona"] == "assistant"]
    assert said.count(HELLO) == 1
