"""Phrases and prompts configured without code: the settings' defaults, a call's own overrides
in `POST /call`, and the 422 that names a bad placeholder. Real API, worker, Temporal and the
scripted LLM server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.settings import ConversationSettings
from scripted_llm.script import ScriptedReply
from tests.conftest import Stack

CHAT = "You help callers of {bot_company} with this task: {task}. Claim so far: {claim}."


async def get_call(stack: Stack, call_id: str) -> dict[str, Any]:
    response = await stack.api.get(f"/call/{call_id}")
    assert response.status_code == 200, response.text
    call: dict[str, Any] = response.json()["call"]
    return call


async def test_a_call_speaks_its_own_phrases_and_prompt(stack: Stack) -> None:
    # The deployment's settings give one phrase; the call overrides another, and the prompt.
    stack.settings.conversation = ConversationSettings.model_validate(
        {"phrases": {"en": {"goodbye": "Bye from {bot_company}!"}, "fr": {"hold": "Une seconde."}}}
    )
    call_id = await stack.start_call(
        bot_name="Zoé",
        task="Book a boiler repair.",
        phrases={"en": {"hello": "Hi, {bot_name} at {bot_company} here. What's up?"}},
        prompts={"chat": CHAT},
    )
    call = await get_call(stack, call_id)
    assert call["initiate"]["phrases"] == {
        "en": {
            "goodbye": "Bye from {bot_company}!",
            "hello": "Hi, {bot_name} at {bot_company} here. What's up?",
        },
        "fr": {"hold": "Une seconde."},
    }
    # The workflow greets with the call's phrase, filled in.
    assert call["messages"][1]["content"] == "Hi, Zoé at Contoso here. What's up?"

    # The model gets the call's own chat prompt, filled in.
    stack.llm.state.add(ScriptedReply(text="Sure, when is good for you?"), user=call_id)
    response = await stack.say(call_id, "My boiler is broken.")
    assert response.status_code == 200, response.text
    requests = await asyncio.wait_for(stack.llm.state.wait_for_requests(1, user=call_id), 10)
    system = [m["content"] for m in requests[0].messages if m["role"] == "system"]
    assert any(
        s.startswith("You help callers of Contoso with this task: Book a boiler repair.")
        for s in system
    ), system


@pytest.mark.parametrize(
    ("body", "field", "named"),
    [
        ({"phrases": {"en": {"hello": "Hi, {bot_nme}."}}}, "phrases", "{bot_nme}"),
        ({"phrases": {"fr": {"helo": "Bonjour."}}}, "phrases", "phrases.fr.helo"),
        ({"phrases": {"en": {"hello": "Hi {bot_name.__class__}"}}}, "phrases", "bare name"),
        ({"phrases": {"en": {"goodbye": "Bye {"}}}, "phrases", "phrases.en.goodbye"),
        ({"phrases": {"en": {"hold": "Press {digit}"}}}, "phrases", "{digit}"),
        ({"prompts": {"small": "You are {bot_name}, {agent}."}}, "prompts", "{agent}"),
        ({"prompts": {"summary": "Summarise."}}, "prompts.summary.[key]", "system"),
    ],
)
async def test_bad_override_is_a_422_naming_field_and_placeholder(
    stack: Stack, body: dict[str, Any], field: str, named: str
) -> None:
    response = await stack.api.post("/call", json={"phone_number": "+33612345678", **body})
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    assert details[0]["field"] == field
    assert named in details[0]["reason"]
