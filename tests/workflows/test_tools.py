"""The other tools through whole turns: search, SMS, emergencies, speech, language, new claim."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from providers.search.sqlite_fts import SqliteFtsSearch
from providers.sms.outbox import OutboxSms
from scripted_llm.script import ScriptedReply, ScriptedToolCall
from tests.conftest import Stack
from tests.workflows.test_conversations import claim_update, get_call, sentences, text


def tool(name: str, **arguments: Any) -> ScriptedReply:
    return ScriptedReply(tool_calls=[ScriptedToolCall(name=name, arguments=arguments)])


async def test_search_document_feeds_the_indexed_documents_to_the_model(
    stack: Stack, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "towing.md").write_text(
        "# Towing after an accident\nThe Serenity plan pays towing up to 150 km, day and night."
    )
    (docs / "glass.md").write_text("# Windscreen\nA chipped windscreen is repaired for free.")
    index = SqliteFtsSearch(stack.settings.search.sqlite_path)
    await index.index_folder(docs)
    await index.close()

    call_id = await stack.start_call()
    stack.llm.state.add(
        tool("search_document", queries=["towing distance covered"]),
        text("Your plan covers towing up to 150 km."),
        user=call_id,
    )
    reply = (await stack.say(call_id, "Will you pay for the tow truck?")).json()
    assert reply["text"] == "Your plan covers towing up to 150 km."
    second = stack.llm.state.requests(user=call_id)[1]
    result = next(m for m in second.messages if m["role"] == "tool")["content"]
    assert result.startswith("<documents>") and "150 km" in result
    assert "Windscreen" not in result or result.index("Towing") < result.index("Windscreen")


async def test_send_sms_and_emergency_go_through_the_sms_provider(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(
        tool(
            "notify_emergencies",
            reason="Driver trapped in the car",
            location="A6 exit 33, Lyon",
            contact="+33612345678",
            service="firefighters",
        ),
        tool("send_sms", message="Your claim number is 42. Keep this message."),
        text("Help is on the way and I sent you a text."),
        user=call_id,
    )
    reply = (await stack.say(call_id, "My friend is stuck in the car!")).json()
    assert reply["tool_calls"] == ["notify_emergencies", "send_sms"]
    outbox = OutboxSms(stack.settings.sms.outbox_path).read()
    assert outbox[0]["to"] == "+33612345678"  # the on-duty agent
    assert outbox[0]["body"].startswith("EMERGENCY (firefighters)")
    assert outbox[1] == {**outbox[1], "to": "+33612345678", "call_id": call_id}
    assert outbox[1]["body"] == "Your claim number is 42. Keep this message."
    call = (await get_call(stack, call_id))["call"]
    assert call["emergencies"][0]["service"] == "firefighters"
    assert call["emergencies"][0]["notified"] is True
    assert any(
        m["action"] == "sms" and "claim number is 42" in m["content"] for m in call["messages"]
    )


async def test_speech_speed_language_and_bad_arguments(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(
        ScriptedReply(
            tool_calls=[
                ScriptedToolCall(name="speech_speed", arguments={"speed": 0.8}),
                ScriptedToolCall(name="speech_lang", arguments={"lang": "fr-FR"}),
                ScriptedToolCall(name="speech_lang", arguments={"lang": "de-DE"}),
                ScriptedToolCall(name="speech_speed", arguments={"speed": "fast"}),
            ]
        ),
        text("D'accord, je parle plus lentement."),
        user=call_id,
    )
    await stack.say(call_id, "Parlez français, et plus lentement s'il vous plaît.")
    call = (await get_call(stack, call_id))["call"]
    assert call["prosody_rate"] == 0.8
    assert call["lang_short_code"] == "fr-FR"
    results = [tc["content"] for m in call["messages"] for tc in m["tool_calls"]]
    assert results[0] == "Speech speed set to 0.8."
    assert results[2].startswith("Error: language 'de-DE' is not available")
    assert results[3].startswith("Error: invalid arguments for speech_speed: speed")
    # The next sentences are tagged with the new language and rate for the TTS.
    spoken = await stack.sentences.read(call_id)
    assert (spoken[-1][1].lang, spoken[-1][1].rate) == ("fr-FR", 0.8)


async def test_new_claim_keeps_the_previous_one_and_refuses_an_empty_one(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(
        tool("new_claim"),
        text("Let's start with the first incident."),
        claim_update(("incident_description", "Hail damage on the roof")),
        tool("new_claim"),
        text("Now tell me about the second incident."),
        user=call_id,
    )
    await stack.say(call_id, "I have two claims.")
    await stack.say(call_id, "Hail damaged my roof. And the other one...")
    call = (await get_call(stack, call_id))["call"]
    results = [tc["content"] for m in call["messages"] for tc in m["tool_calls"]]
    assert results[0].startswith("Error: the current claim is still empty")
    assert results[-1].startswith("A new claim was started")
    assert call["claim"] == {}
    assert call["closed_claims"][0]["claim"] == {"incident_description": "Hail damage on the roof"}


async def test_repeated_identical_tool_call_is_not_run_twice(stack: Stack) -> None:
    call_id = await stack.start_call()
    sms = tool("send_sms", message="Same text")
    stack.llm.state.add(sms, sms, text("Sent."), user=call_id)
    await stack.say(call_id, "Text me please.")
    assert len(OutboxSms(stack.settings.sms.outbox_path).read()) == 1
    call = (await get_call(stack, call_id))["call"]
    results = [tc["content"] for m in call["messages"] for tc in m["tool_calls"]]
    assert results[1].startswith("Already done in this turn")
    assert json.loads(call["messages"][-2]["tool_calls"][0]["function_arguments"]) == {
        "message": "Same text"
    }
    assert (await sentences(stack, call_id))[-1][1] == "Sent."
