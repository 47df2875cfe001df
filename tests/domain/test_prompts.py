"""Prompt building: placeholders, history window, tool schemas from the claim."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from domain.call import CallInitiate, CallState, Message, Persona, ToolCall
from domain.claim import ClaimField, ClaimFieldType
from domain.prompts import build_chat, history, phrase
from domain.tools import TOOL_NAMES, tool_schemas

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def call(**initiate: object) -> CallState:
    return CallState(
        call_id="c1",
        created_at=NOW,
        initiate=CallInitiate.model_validate(
            {
                "phone_number": "+33612345678",
                "bot_company": "Contoso",
                "bot_name": "Amélie",
                "agent_phone_number": "+33612345679",
                **initiate,
            }
        ),
        claim={"incident_location": "Lyon"},
    )


def test_system_prompts_fill_every_placeholder() -> None:
    messages = build_chat(call(task="Help with a water leak."), NOW)
    default, chat = messages[0]["content"], messages[1]["content"]
    assert "Amélie" in default and "Contoso" in default and "+33612345678" in default
    assert "Wed 25 Nov 2026, 10:30 (CET)" in default  # the caller's local time
    assert "Help with a water leak." in chat
    assert '"incident_location": "Lyon"' in chat
    assert '"policyholder_email": null' in chat
    assert "{" + "task}" not in chat and "{bot_name}" not in default


def test_history_keeps_the_newest_messages_and_tool_results_together() -> None:
    msgs = [
        Message(created_at=NOW + timedelta(seconds=i), persona=Persona.HUMAN, content=f"m{i}")
        for i in range(30)
    ]
    msgs.append(
        Message(
            created_at=NOW,
            persona=Persona.ASSISTANT,
            content="noted",
            tool_calls=[ToolCall(tool_id="t1", function_name="end_call", content="done")],
        )
    )
    window = history(msgs, max_messages=20, max_chars=100_000)
    assert window[0]["content"] == "action=talk m11"
    assert window[-2]["tool_calls"][0]["id"] == "t1"
    assert window[-1] == {"role": "tool", "tool_call_id": "t1", "content": "done"}
    small = history(msgs, max_messages=20, max_chars=200)
    assert small[-1]["role"] == "tool" and small[-2]["role"] == "assistant"


def test_tool_schemas_come_from_the_claim_and_languages() -> None:
    state = call(claim=[{"name": "car_plate", "type": "text", "description": "Plate"}])
    tools = {t["function"]["name"]: t["function"] for t in tool_schemas(state)}
    assert set(tools) == set(TOOL_NAMES)
    fields = tools["updated_claim"]["parameters"]["properties"]["updates"]["items"]
    assert fields["properties"]["field"]["enum"] == [
        "car_plate",
        "policyholder_email",
        "policyholder_name",
        "policyholder_phone",
    ]
    assert tools["speech_lang"]["parameters"]["properties"]["lang"]["enum"] == ["en-US", "fr-FR"]
    assert "end_call" not in {
        t["function"]["name"] for t in tool_schemas(state, frozenset({"end_call"}))
    }
    json.dumps(tools)  # serialisable as sent to the API


def test_static_phrases_follow_the_call_language() -> None:
    state = call()
    assert phrase("hello", state).startswith("Hello, I'm Amélie from Contoso")
    state.lang_short_code = "fr-FR"
    assert phrase("hello", state).startswith("Bonjour, je suis Amélie de Contoso")
    assert ClaimField(name="x", type=ClaimFieldType.TEXT).type == "text"


def test_an_acknowledgement_prompt_holds_only_the_last_words_said() -> None:
    """The small model that only acknowledges gets the caller's turn, without the bot's
    words and the tool calls and results stored with them: fewer new prompt tokens per turn
    for a local model, which processes each one on the CPU."""
    state = call().model_copy(
        update={
            "messages": [
                Message(created_at=NOW, persona=Persona.HUMAN, content="I had an accident."),
                Message(
                    created_at=NOW,
                    persona=Persona.ASSISTANT,
                    content="I'm sorry to hear that.  May I have your name?",
                    tool_calls=[
                        ToolCall(
                            tool_id="guardrail_1_0_fill",
                            function_name="updated_claim",
                            function_arguments='{"updates": []}',
                            content="Updated.",
                        )
                    ],
                ),
                Message(created_at=NOW, persona=Persona.HUMAN, content="Jane Miller."),
            ]
        }
    )
    messages = build_chat(state, NOW, profile="small", ack_only=True)
    assert messages[1:] == [{"role": "user", "content": "Jane Miller."}]
    assert messages[0]["role"] == "system"
    assert "tool_call" not in json.dumps(messages) and "Updated." not in json.dumps(messages)
