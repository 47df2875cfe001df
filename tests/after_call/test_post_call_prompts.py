"""Post-call prompts configurable without code: `prompts.synthesis`, `prompts.next` and
`prompts.sms` in the settings or a `POST /call`, their placeholders checked at start."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import ValidationError

from core.settings import ConversationSettings
from domain.prompt_templates import PROMPT_PLACEHOLDERS
from domain.prompts import NEXT_SYSTEM_TPL, SMS_SUMMARY_SYSTEM_TPL, SYNTHESIS_SYSTEM_TPL
from domain.templating import placeholders
from providers.sms.outbox import OutboxSms
from scripted_llm.script import Match, ScriptedReply, ScriptedToolCall
from tests.conftest import Stack
from workflows.call import CallWorkflow

SMS_PROMPT = "Write one friendly line for the customer of {bot_company}.\n{claim}\n{transcript}"


def test_the_built_in_post_call_prompts_use_only_their_placeholders() -> None:
    built_in = {"synthesis": SYNTHESIS_SYSTEM_TPL, "next": NEXT_SYSTEM_TPL}
    built_in["sms"] = SMS_SUMMARY_SYSTEM_TPL
    for name, text in built_in.items():
        assert set(placeholders(text)) <= PROMPT_PLACEHOLDERS[name], name


def test_a_bad_placeholder_in_the_settings_fails_at_start_naming_it() -> None:
    with pytest.raises(ValidationError) as raised:
        ConversationSettings(prompts={"sms": "Thanks! {format}"})  # no schema for a text
    assert "prompts.sms: unknown placeholder {format}" in str(raised.value)
    ConversationSettings(prompts={"next": "Decide: {format}\n{claim}"})  # a good one passes


@pytest.mark.parametrize(
    ("prompts", "named"),
    [({"synthesis": "Summarise {calls}."}, "{calls}"), ({"sms": "Hi {"}, "prompts.sms")],
)
async def test_a_bad_post_call_prompt_in_post_call_is_a_422(
    stack: Stack, prompts: dict[str, str], named: str
) -> None:
    body: dict[str, Any] = {"phone_number": "+33612345678", "prompts": prompts}
    response = await stack.api.post("/call", json=body)
    assert response.status_code == 422, response.text
    assert named in response.json()["error"]["details"][0]["reason"]


async def test_a_calls_own_sms_prompt_is_what_the_model_gets(stack: Stack) -> None:
    call_id = await stack.start_call(prompts={"sms": SMS_PROMPT})
    stack.llm.state.add(
        ScriptedReply(text="Goodbye!", tool_calls=[ScriptedToolCall(name="end_call")]),
        user=call_id,
    )
    synthesis = {"long": "Hail.", "short": "hail", "satisfaction": "high"}
    stack.llm.state.add(
        ScriptedReply(
            text=json.dumps({**synthesis, "improvement_suggestions": ""}),
            match=Match(user=call_id, last_user_contains="Synthesis JSON"),
        ),
        ScriptedReply(
            text=json.dumps({"action": "case_closed", "justification": "Done."}),
            match=Match(user=call_id, last_user_contains="Next JSON"),
        ),
        ScriptedReply(
            text="Thanks for calling Contoso about the hail!",
            match=Match(user=call_id, last_user_contains="Write the message"),
        ),
    )
    await stack.say(call_id, "Hail broke my windows. Goodbye.")
    handle = stack.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    await asyncio.wait_for(handle.result(), 30)

    [request] = [
        r for r in stack.llm.state.requests(user=call_id) if r.last_user_text.startswith("Write")
    ]
    system = request.messages[0]["content"]
    assert system.startswith("Write one friendly line for the customer of Contoso.\n{}")
    assert "Hail broke my windows. Goodbye." in system  # the transcript
    sent = OutboxSms(stack.settings.sms.outbox_path).read()
    assert sent[-1]["body"] == "Thanks for calling Contoso about the hail!"
