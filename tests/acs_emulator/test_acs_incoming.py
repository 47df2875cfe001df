"""A phone dials the bot: Event Grid handshake, IncomingCall, answer_call."""

from __future__ import annotations

import pytest
from azure.communication.callautomation.aio import CallAutomationClient
from azure.core.exceptions import HttpResponseError

from acs_emulator import AcsEmulator
from tests.acs_emulator.bot_stub import BotStub

CALLER = "+15550003003"


async def test_dial_validates_then_delivers_incoming_call(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    result = await acs.client.dial(CALLER, display_name="Jane")
    assert result.delivered, result.detail
    assert bot.validation_headers[0]["aeg-event-type"] == "SubscriptionValidation"
    [event] = bot.incoming_calls
    assert event["_headers"]["aeg-event-type"] == "Notification"
    assert event["eventType"] == "Microsoft.Communication.IncomingCall"
    data = event["data"]
    assert data["from"] == {
        "kind": "phoneNumber",
        "rawId": f"4:{CALLER}",
        "phoneNumber": {"value": CALLER},
    }
    assert data["to"]["phoneNumber"]["value"] == acs.bot_number
    assert data["incomingCallContext"] == result.incoming_call_context
    assert data["callerDisplayName"] == "Jane"
    assert {"serverCallId", "correlationId"} <= data.keys()
    assert (await acs.client.validations())[0].ok

    props = await sdk.answer_call(data["incomingCallContext"], bot.url("/callbacks"))
    assert props.call_connection_id == result.connection_id
    connected = await bot.wait_for(result.connection_id, "CallConnected")
    assert connected.jwt_ok
    assert connected.event["data"]["serverCallId"] == data["serverCallId"]
    record = await acs.client.wait_for_state(CALLER, "connected")
    assert record.direction == "inbound" and record.from_number == CALLER

    # The context works once; an unknown one is refused.
    with pytest.raises(HttpResponseError) as used:
        await sdk.answer_call(data["incomingCallContext"], bot.url("/callbacks"))
    assert used.value.status_code == 404
    with pytest.raises(HttpResponseError) as unknown:
        await sdk.answer_call("not-a-context", bot.url("/callbacks"))
    assert unknown.value.status_code == 400

    # Validated once per URL.
    assert (await acs.client.dial("+15550003004")).delivered
    assert len(bot.validation_headers) == 1


@pytest.mark.parametrize("mode", ["wrong", "accepted"])
async def test_failed_validation_refuses_delivery(
    acs: AcsEmulator, bot: BotStub, mode: str
) -> None:
    bot.validation = mode  # type: ignore[assignment]
    result = await acs.client.dial(CALLER)
    assert not result.delivered and "validation" in result.detail
    assert bot.incoming_calls == []
    assert not (await acs.client.validations())[0].ok
    assert (await acs.client.call(result.connection_id)).state == "disconnected"


async def test_no_event_grid_subscription(acs: AcsEmulator, bot: BotStub) -> None:
    await acs.client.configure(event_grid_url=None)
    result = await acs.client.dial(CALLER)
    assert not result.delivered and bot.validation_headers == []


async def test_unanswered_incoming_call_gives_up(acs: AcsEmulator, bot: BotStub) -> None:
    await acs.client.add_phone(CALLER, ring_timeout_ms=50)
    result = await acs.client.dial(CALLER)
    record = await acs.client.wait_for_state(result.connection_id, "disconnected")
    assert record.hang_up is not None and record.hang_up.by == "phone"


async def test_reject_incoming_call(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    result = await acs.client.dial(CALLER)
    await sdk.reject_call(result.incoming_call_context)
    record = await acs.client.call(result.connection_id)
    assert record.state == "disconnected" and record.events == []
