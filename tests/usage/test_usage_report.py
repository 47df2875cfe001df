"""A call's usage and cost in the API and the report page, on the real stack."""

from __future__ import annotations

import asyncio
import json
import re

from scripted_llm.script import ScriptedReply, ScriptedToolCall
from tests.conftest import Stack
from workflows.call import CallWorkflow


async def test_an_ended_call_shows_its_cost_in_the_api_and_the_report(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(
        ScriptedReply(text="I am sorry to hear that. Where was the car parked?"),
        ScriptedReply(text="Goodbye!", tool_calls=[ScriptedToolCall(name="end_call")]),
        user=call_id,
    )
    assert (await stack.say(call_id, "My car was stolen last night.")).status_code == 200
    assert (await stack.say(call_id, "That's all, bye.")).json()["ended"] is True
    handle = stack.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    final = await asyncio.wait_for(handle.result(), 20)

    usage = (await stack.api.get(f"/call/{call_id}")).json()["call"]["usage"]
    assert usage == final.usage.model_dump(mode="json")
    turns = [r for r in stack.llm.state.requests(call_id) if r.model == "fast-model"]
    fast = next(t for t in usage["llm"] if t["model"] == "fast-model")
    assert fast["requests"] == len(turns) >= 1
    # The post-call completions (the slow model) are counted too, priced after post-call.
    post_call = [r for r in stack.llm.state.requests(call_id) if r.model == "slow-model"]
    slow = next(t for t in usage["llm"] if t["model"] == "slow-model")
    assert slow["requests"] == len(post_call) >= 1
    assert slow["prompt_tokens"] == sum(max(1, len(json.dumps(r.messages)) // 4) for r in post_call)
    assert "llm_input:slow-model" in {line["item"] for line in usage["cost"]["lines"]}
    assert usage["tts_characters"] == 0 and usage["outbound_minutes"] == 0  # a chat
    history = await handle.fetch_history()
    assert usage["temporal_actions"] >= sum(
        1 for e in history.events if e.HasField("activity_task_scheduled_event_attributes")
    )
    cost = usage["cost"]
    assert cost["total"] == round(sum(line["cost"] for line in cost["lines"]), 6) > 0

    page = await stack.api.get(f"/report/{call_id}")
    assert page.status_code == 200, page.text
    section = re.search(r'<section class="card" id="usage".*?</section>', page.text, re.S)
    assert section is not None, "no usage section in the report"
    items = re.findall(r'<tr data-item="([^"]+)">', section.group(0))
    assert items == [line["item"] for line in cost["lines"]]
    assert f"USD {cost['total']:.4f}" in section.group(0)
