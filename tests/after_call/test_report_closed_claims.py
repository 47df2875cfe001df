"""The report shows the claims `new_claim` set aside, each with its own values and reminders."""

from __future__ import annotations

from scripted_llm.script import ScriptedReply, ScriptedToolCall
from tests.api.test_report import parse
from tests.conftest import Stack
from tests.workflows.test_conversations import claim_update, text


def tool(name: str, **arguments: object) -> ScriptedReply:
    return ScriptedReply(tool_calls=[ScriptedToolCall(name=name, arguments=arguments)])


async def test_closed_claims_appear_in_the_report_with_their_own_values(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(
        claim_update(("incident_description", "Hail damage on the roof")),
        tool(
            "new_or_updated_reminder",
            title="Roofer visit",
            description="Send the roofer's quote",
            due_date_time="2030-05-04 10:00",
            owner="customer",
        ),
        text("Noted, and I set a reminder for the roofer's quote."),
        tool("new_claim"),
        claim_update(("incident_description", "Flooded cellar")),
        text("Noted: a flooded cellar."),
        user=call_id,
    )
    await stack.say(call_id, "Hail damage on the roof. Remind me to send the roofer's quote.")
    await stack.say(call_id, "Another claim: a flooded cellar.")

    response = await stack.api.get(f"/report/{call_id}")
    assert response.status_code == 200, response.text
    page = parse(response.text)
    current = page.one(id="claim")
    assert current.one("tr", data_field="incident_description").text().endswith("Flooded cellar")
    [closed] = page.one(id="closed-claims").find_all("article")
    assert closed.attrs["data-closed-claim"] == "1"
    rows = closed.find_all("tr")
    assert [r.attrs["data-field"] for r in rows] == ["incident_description"]
    assert rows[0].text() == "Incident description Hail damage on the roof"
    assert closed.one("li", data_reminder_title="Roofer visit").attrs["data-reminder-status"]
    assert "Hail damage" not in current.text()
    # The current claim's reminders are its own: the closed claim took its reminder along.
    assert page.one(id="reminders").find_all("li") == []
