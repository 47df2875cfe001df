"""Post-call: synthesis, next action and SMS summary from the slow model, validated."""

from __future__ import annotations

import asyncio
import json

from providers.sms.outbox import OutboxSms
from scripted_llm.script import Match, ScriptedReply, ScriptedToolCall
from tests.conftest import Stack
from workflows.call import CallWorkflow

SYNTHESIS = {
    "long": "The customer was **rear-ended** on the A6.\n\n- no injuries\n- truck AB-123-CD",
    "short": "the rear-ending of your car",
    "satisfaction": "high",
    "improvement_suggestions": "Offer a replacement car earlier.",
}
NEXT = {"action": "requires_expertise", "justification": "Damage must be assessed."}


async def test_post_call_retries_an_invalid_answer_and_stores_the_results(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(
        ScriptedReply(text="Goodbye!", tool_calls=[ScriptedToolCall(name="end_call")]),
        user=call_id,
    )
    # The model's first synthesis misses fields and is wrapped in prose: rejected, and the
    # validation error goes back to it; its second answer is valid.
    stack.llm.state.add(
        ScriptedReply(
            text='Sure! {"short": "accident"}',
            match=Match(user=call_id, last_user_contains="Synthesis JSON"),
        ),
        ScriptedReply(
            text="```json\n" + json.dumps(SYNTHESIS) + "\n```",
            match=Match(user=call_id, last_user_contains="validation error occurred"),
        ),
        ScriptedReply(
            text=json.dumps(NEXT), match=Match(user=call_id, last_user_contains="Next JSON")
        ),
        ScriptedReply(
            text="Thank you Jean, your claim is recorded. We call you back Friday. Amélie, Contoso",
            match=Match(user=call_id, last_user_contains="Write the message"),
        ),
    )
    await stack.say(call_id, "My car was hit on the A6, nobody is hurt. Bye.")
    handle = stack.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    final = await asyncio.wait_for(handle.result(), 30)

    assert final.synthesis is not None and final.synthesis.model_dump(mode="json") == SYNTHESIS
    assert final.next is not None and final.next.model_dump(mode="json") == NEXT
    assert final.post_call_at is not None
    assert final.messages[-1].action == "sms"
    assert final.messages[-1].content.startswith("Thank you Jean")
    sent = OutboxSms(stack.settings.sms.outbox_path).read()
    assert sent[-1]["to"] == "+33612345678" and sent[-1]["body"].startswith("Thank you Jean")
    retry = [
        r for r in stack.llm.state.requests(user=call_id) if "validation error" in r.last_user_text
    ]
    assert len(retry) == 1
    assert "Field required" in retry[0].messages[-1]["content"]
    assert retry[0].messages[-2] == {"role": "assistant", "content": 'Sure! {"short": "accident"}'}
    stored = await stack.store.get(call_id)
    assert stored is not None and stored.synthesis == final.synthesis


def test_an_sms_that_repeats_the_instructions_is_never_sent() -> None:
    from activities.post_call import _repeats_instructions

    assert _repeats_instructions(
        "Thank them, summarise what was recorded and the next steps (reminders), in at most 300"
        " characters, no Markdown, signed Amélie from Contoso. Answer with the message only."
    )
    assert not _repeats_instructions(
        "Thank you Jane: we recorded your car accident claim (policy B01371946); an adjuster"
        " will contact you. Amélie, Contoso"
    )
