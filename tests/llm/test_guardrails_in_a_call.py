"""Guardrails in whole calls: real Temporal dev server, worker, Redis and the scripted LLM."""

from __future__ import annotations

from scripted_llm.script import ScriptedReply, ScriptedToolCall
from tests.conftest import Stack
from tests.workflows.test_conversations import claim_update, get_call, text


async def test_a_hallucinated_claim_update_is_refused_and_the_model_is_told(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(
        # What the 0.5B model does with "I want to report an accident": invented data.
        claim_update(
            ("policyholder_name", "John Doe"),
            ("policy_number", "1234567890"),
            ("incident_description", "Accident to report"),
        ),
        text("I'm sorry to hear that. What is your name?"),
        user=call_id,
    )
    reply = (await stack.say(call_id, "Hello, I want to report an accident.")).json()
    assert reply["text"] == "I'm sorry to hear that. What is your name?"

    state = (await get_call(stack, call_id))["call"]
    assert state["claim"] == {"incident_description": "Accident to report"}  # the said one
    [update] = next(m for m in state["messages"] if m["tool_calls"])["tool_calls"]
    assert update["content"].splitlines() == [
        "Rejected \"policyholder_name\": the caller did not say 'John Doe'. Ask the customer"
        " again.",
        "Rejected \"policy_number\": the caller did not say '1234567890'. Ask the customer again.",
        'Updated "incident_description" to "Accident to report".',
    ]
    # The next iteration of the model read the refusal.
    second = stack.llm.state.requests(user=call_id)[1]
    tool_results = [m["content"] for m in second.messages if m["role"] == "tool"]
    assert "the caller did not say 'John Doe'" in tool_results[-1]


async def test_an_unasked_hang_up_is_refused(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(
        ScriptedReply(text="Goodbye!", tool_calls=[ScriptedToolCall(name="end_call")]),
        text("Sorry, let's go on. When did it happen?"),
        user=call_id,
    )
    reply = (await stack.say(call_id, "My car was hit on the A6.")).json()
    assert reply["ended"] is False and reply["status"] == "in_progress"
    state = (await get_call(stack, call_id))["call"]
    assert "hangup" not in [m["action"] for m in state["messages"]]
    refusal = next(m for m in state["messages"] if m["tool_calls"])["tool_calls"][0]["content"]
    assert refusal.startswith("Error: the caller did not say goodbye")


async def test_the_answer_to_the_bots_question_is_stored_when_the_model_does_not(
    stack: Stack,
) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(
        text("Thank you. What is your email address?"),
        text("Thank you. And your phone number?"),  # no tool call: the model forgot
        user=call_id,
    )
    await stack.say(call_id, "My name is Jean Dupont.")
    reply = (await stack.say(call_id, "It's jean dot dupont at example dot com.")).json()
    assert reply["tool_calls"] == ["updated_claim"]

    state = (await get_call(stack, call_id))["call"]
    assert state["claim"]["policyholder_email"] == "jean.dupont@example.com"
    [stored] = state["messages"][-1]["tool_calls"]
    assert stored["tool_id"] == "guardrail_2_0_answers"
    assert stored["content"] == 'Updated "policyholder_email" to "jean.dupont@example.com".'
    # The model was shown the email as stored, and asked for the next field.
    request = stack.llm.state.requests(user=call_id)[-1]
    system = request.messages[1]["content"]
    assert '"policyholder_email": "jean.dupont@example.com"' in system
    assert "# Next question\nAsk the customer for" in system


async def test_without_guardrails_the_invented_value_is_stored(stack: Stack) -> None:
    # The worker reads this settings object: switching it off is what `llm.guardrails: false`
    # in the configuration does (used to measure the bare model).
    stack.settings.llm.guardrails = False
    call_id = await stack.start_call()
    stack.llm.state.add(
        claim_update(("policyholder_name", "John Doe")), text("Noted, John."), user=call_id
    )
    await stack.say(call_id, "Hello, I want to report an accident.")
    state = (await get_call(stack, call_id))["call"]
    assert state["claim"] == {"policyholder_name": "John Doe"}


async def test_a_clear_goodbye_ends_the_call_when_the_model_forgets_to(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(text("Goodbye, have a nice day!"), user=call_id)  # and no end_call
    reply = (await stack.say(call_id, "That's all, goodbye.")).json()
    assert reply["tool_calls"] == ["end_call"]
    assert reply["ended"] is True and reply["status"] == "ended"


async def test_with_a_small_model_a_transfer_request_skips_the_model(stack: Stack) -> None:
    stack.settings.llm.profile = "small"  # as in test_without_guardrails: the worker reads it
    call_id = await stack.start_call()
    stack.llm.state.add(text("An agent will call you back shortly."), user=call_id)
    reply = (await stack.say(call_id, "I want to talk to a real person.")).json()
    assert reply["tool_calls"] == ["talk_to_human"]
    state = (await get_call(stack, call_id))["call"]
    assert state["handoff"]["status"] == "queued"
    # Only the iteration after the hand-off asked the model (with the small prompt).
    [request] = stack.llm.state.requests(user=call_id)
    assert request.messages[0]["content"].startswith("You are Amélie, a phone assistant")
    assert request.tools is None


async def test_the_policy_of_the_first_turn_is_kept_for_the_call(stack: Stack) -> None:
    stack.settings.llm.profile = "small"  # the worker reads it when the call's first turn runs
    call_id = await stack.start_call()
    stack.llm.state.add(text("I am sorry to hear that."), text("Noted."), user=call_id)
    await stack.say(call_id, "Hello, my car was stolen.")
    state = (await get_call(stack, call_id))["call"]
    assert state["turn_policy"] == "small" and state["turn_guardrails"] is True
    stack.settings.llm.profile = "full"  # changed mid-call: the live call keeps its policy
    await stack.say(call_id, "It was yesterday.")
    first, second = stack.llm.state.requests(user=call_id)
    for request in (first, second):
        assert request.tools is None  # the small policy describes its tools in the prompt
        assert request.messages[0]["content"].startswith("You are Amélie, a phone assistant")


async def test_with_a_small_model_a_goodbye_still_stores_what_the_turn_said(stack: Stack) -> None:
    stack.settings.llm.profile = "small"
    call_id = await stack.start_call()
    reply = (
        await stack.say(call_id, "My email is jean dot dupont at example dot com. Goodbye.")
    ).json()
    assert reply["tool_calls"] == ["updated_claim", "end_call"] and reply["ended"] is True
    state = (await get_call(stack, call_id))["call"]
    assert state["claim"]["policyholder_email"] == "jean.dupont@example.com"
    # The model was not asked for the turn (only, once the call ended, for its synthesis).
    prompts = [r.messages[0]["content"] for r in stack.llm.state.requests(user=call_id)]
    assert not [p for p in prompts if p.startswith("You are Amélie, a phone assistant")]
