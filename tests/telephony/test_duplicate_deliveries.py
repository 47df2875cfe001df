"""What ACS and Event Grid deliver twice has one effect: one call per `IncomingCall`, one
signal effect per callback event, one turn and one reply per text message.

The phone stack is the real one (API over HTTP, dev server, worker, gateway, ACS emulator); the
emulator delivers each event once, and the test redelivers it exactly as ACS or Event Grid
would after a lost answer: the same body (same event id), with a fresh callback token.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType

from acs_emulator.models import CallRecord, DialResult
from api.idempotency import call_id_for_incoming
from providers.sentences.redis_stream import RedisSentenceStream
from scripted_llm.script import ScriptedReply
from tests.api.test_idempotency import task_timeout_sec
from tests.telephony.test_phone_calls import CUSTOMER, ONE_LANGUAGE, Phone
from tests.telephony.test_phone_calls import phone as phone  # noqa: F401 - the fixture

EVENT_GRID = "/eventgrid/events?secret=eg-secret"


def incoming_call_event(phone: Phone, dial: DialResult, caller: str) -> dict[str, Any]:
    """The `IncomingCall` Event Grid delivered for `dial` (ids as the emulator issued them)."""
    return {
        "id": str(uuid.uuid4()),  # Event Grid's redelivery may even carry another event id
        "topic": "/subscriptions/s/resourceGroups/rg/providers/"
        "Microsoft.Communication/communicationServices/acs",
        "subject": f"/caller/4:{caller}/recipient/4:{phone.acs.bot_number}",
        "data": {
            "to": {"kind": "phoneNumber", "rawId": f"4:{phone.acs.bot_number}",
                   "phoneNumber": {"value": phone.acs.bot_number}},
            "from": {"kind": "phoneNumber", "rawId": f"4:{caller}",
                     "phoneNumber": {"value": caller}},
            "serverCallId": dial.server_call_id,
            "callerDisplayName": "",
            "incomingCallContext": dial.incoming_call_context,
            "correlationId": dial.correlation_id,
        },
        "eventType": "Microsoft.Communication.IncomingCall",
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "eventTime": datetime.now(UTC).isoformat(),
    }  # fmt: skip


async def redeliver(phone: Phone, *events: dict[str, Any], times: int = 2) -> None:
    """Event Grid delivers the same events again, `times` deliveries at once."""
    answers = await asyncio.gather(
        *(phone.api.post(EVENT_GRID, json=list(events)) for _ in range(times))
    )
    assert [a.status_code for a in answers] == [200] * times, [a.text for a in answers]


async def calls_of(phone: Phone, number: str) -> list[str]:
    response = await phone.api.get("/call", params={"phone_number": number})
    return [c["call_id"] for c in response.json()["calls"]]


async def signals(phone: Phone, call_id: str, name: str) -> int:
    handle = phone.client.get_workflow_handle(f"call-{call_id}")
    return len(
        [
            e
            async for e in handle.fetch_history_events()
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
            and e.workflow_execution_signaled_event_attributes.signal_name == name
        ]
    )


async def test_the_same_incoming_call_twice_is_one_call(phone: Phone) -> None:
    caller = "+33611113333"
    await phone.phones.add_phone(caller)
    dial = await phone.phones.dial(caller)
    assert dial.delivered, dial.detail
    await phone.phones.wait_for_state(dial.connection_id, "connected")
    expected = call_id_for_incoming(dial.incoming_call_context)
    event = incoming_call_event(phone, dial, caller)
    await redeliver(phone, event)  # while the call is live
    assert await calls_of(phone, caller) == [expected]
    # Nobody picks a language from the menu: the bot says goodbye and the call ends.
    await phone.wait_status(expected, "ended", timeout=20)
    # After the call, and with Redis having lost what the API recorded (a restart without
    # persistence): not a new call, and not a call back either.
    async for key in phone.redis.scan_iter(match="incoming-call:*"):
        await phone.redis.delete(key)
    await redeliver(phone, event)
    assert await calls_of(phone, caller) == [expected]
    state = await phone.state(expected)
    assert state["status"] == "ended"
    assert [m["action"] for m in state["messages"]].count("call") == 1
    assert await signals(phone, expected, "incoming_call") == 0
    assert len(await phone.phones.calls(caller)) == 1
    assert await task_timeout_sec(phone.client, expected) == 1.0


async def test_a_call_back_delivered_twice_resumes_once(phone: Phone) -> None:
    call_id = await phone.call(lang=ONE_LANGUAGE)
    connection_id = await phone.connection(call_id)
    await phone.phones.hang_up(connection_id)
    await phone.wait_status(call_id, "ended")
    dial = await phone.phones.dial(CUSTOMER)  # the customer calls back: the call resumes
    assert dial.delivered, dial.detail
    await phone.phones.wait_for_state(dial.connection_id, "connected")
    await phone.wait_status(call_id, "in_progress")
    await redeliver(phone, incoming_call_event(phone, dial, CUSTOMER))
    assert await calls_of(phone, CUSTOMER) == [call_id]
    assert await signals(phone, call_id, "incoming_call") == 1
    assert await task_timeout_sec(phone.client, call_id) == 1.0  # the resumed run too
    state = await phone.state(call_id)
    assert [m["action"] for m in state["messages"]].count("call") == 2  # placed, called back


def cloud_event(record: CallRecord, event_type: str) -> dict[str, Any]:
    """The callback event as ACS posted it (same id, same data): what a redelivery carries."""
    (event,) = [e for e in record.events if e.type == event_type]
    source = f"calling/callConnections/{record.connection_id}"
    return {
        "id": event.id,
        "source": source,
        "type": f"Microsoft.Communication.{event_type}",
        "data": event.data,
        "time": event.time.isoformat(),
        "specversion": "1.0",
        "datacontenttype": "application/json",
        "subject": source,
    }


async def test_the_same_callback_twice_greets_once(phone: Phone) -> None:
    call_id = await phone.call(lang=ONE_LANGUAGE)
    connection_id = await phone.connection(call_id)
    await phone.phones.wait_for_event(connection_id, "CallConnected")
    record = await phone.phones.call(connection_id)
    assert record.callback_uri is not None
    event = cloud_event(record, "CallConnected")
    before = await signals(phone, call_id, "acs_event")
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(2):
            token = phone.acs.emulator.signer.token()
            answer = await http.post(
                record.callback_uri, json=[event], headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 204, answer.text
    # A turn after them: the workflow has handled both signals by the time it answers.
    phone.llm.state.add(ScriptedReply(text="Go on."), user=call_id)
    turn = await phone.api.post(f"/call/{call_id}/messages", json={"text": "Hi", "turn_id": 1})
    assert turn.status_code == 200, turn.text
    assert await signals(phone, call_id, "acs_event") == before + 2  # both passed on
    state = await phone.state(call_id)
    hello = [m for m in state["messages"] if m["content"].startswith("Hello, I'm Amélie")]
    assert len(hello) == 1
    spoken = await RedisSentenceStream(phone.redis).read(call_id)
    assert [s.text for _, s in spoken].count(hello[0]["content"]) == 1


async def test_the_same_text_message_twice_is_one_turn_and_one_reply(phone: Phone) -> None:
    customer = "+33611114444"
    await phone.phones.add_phone(customer)
    call_id = await phone.call(phone_number=customer, lang=ONE_LANGUAGE)
    await phone.connection(call_id)
    phone.llm.state.add(ScriptedReply(text="Yes, towing is included.", delay_s=0.5), user=call_id)
    phone.llm.state.add(ScriptedReply(text="A SECOND REPLY"), user=call_id)
    message_id = f"Incoming_{uuid.uuid4().hex}"
    event = {
        "id": message_id,
        "topic": "/subscriptions/s/resourcegroups/rg/providers/microsoft.communication/"
        "communicationservices/acs",
        "subject": f"/phonenumber/{customer.lstrip('+')}",
        "data": {
            "messageId": message_id,
            "from": customer,
            "to": phone.acs.bot_number,
            "message": "Is towing included?",
            "receivedTimestamp": datetime.now(UTC).isoformat(),
            "segmentCount": 1,
        },
        "eventType": "Microsoft.Communication.SMSReceived",
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "eventTime": datetime.now(UTC).isoformat(),
    }
    await redeliver(phone, event)  # two deliveries at once, while the turn runs
    await redeliver(phone, event, times=1)  # and one after it was answered
    assert [m.body for m in await phone.phones.sms_sent(customer)] == ["Yes, towing is included."]
    state = await phone.state(call_id)
    turns = [(m["persona"], m["content"]) for m in state["messages"] if m["action"] == "sms"]
    assert turns == [("human", "Is towing included?"), ("assistant", "Yes, towing is included.")]
    assert len(phone.llm.state.requests(user=call_id)) == 1
