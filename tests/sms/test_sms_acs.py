"""`AcsSms` with the real SDK against the ACS emulator, and texts to the bot over Event Grid."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from acs_emulator import AcsEmulator
from acs_emulator.config import new_access_key
from providers.sms.acs import AcsSms, SmsRejected, SmsUnavailable
from providers.sms.inbound import SMS_RECEIVED_EVENT, from_event_grid
from tests.acs_emulator.helpers import signed_headers

CUSTOMER = "+15550007001"
VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"


class EventGridReceiver:
    """The app's Event Grid webhook: echoes the validation code, records every event."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []  # (aeg-event-type, event)
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/eventgrid", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/eventgrid"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        kind = request.headers.get("aeg-event-type", "")
        events = await request.json()
        for event in events:
            self.received.append((kind, event))
            if event["eventType"] == VALIDATION_EVENT:
                return web.json_response({"validationResponse": event["data"]["validationCode"]})
        return web.Response(status=200)


@pytest.fixture(scope="module")
async def emulator() -> AsyncIterator[AcsEmulator]:
    async with AcsEmulator() as acs:
        yield acs


@pytest.fixture
async def acs(emulator: AcsEmulator) -> AcsEmulator:
    await emulator.client.reset()
    return emulator


@pytest.fixture
async def sms(acs: AcsEmulator) -> AsyncIterator[AcsSms]:
    async with AcsSms(acs.endpoint, acs.access_key, acs.bot_number) as sender:
        yield sender


async def test_send_is_recorded_with_its_tag(acs: AcsEmulator, sms: AcsSms) -> None:
    result = await sms.send(CUSTOMER, "Your claim is filed.", call_id="call-42")
    assert result.delivered
    assert result.message_id.startswith("Outgoing_")
    [record] = await acs.client.sms_sent(CUSTOMER)
    assert record.message_id == result.message_id
    assert (record.from_number, record.to_number) == (acs.bot_number, CUSTOMER)
    assert record.body == "Your claim is filed."
    assert record.tag == "call-42"
    assert record.delivery_report
    # Without first_sent the SDK's own (random) repeatability id goes out.
    assert record.repeatability_request_id is not None
    uuid.UUID(record.repeatability_request_id)
    assert await acs.client.sms_sent("+15550009999") == []


async def test_wrong_key_is_refused(acs: AcsEmulator) -> None:
    async with AcsSms(acs.endpoint, new_access_key(), acs.bot_number) as sms:
        with pytest.raises(SmsRejected) as caught:
            await sms.send(CUSTOMER, "hello")
    assert caught.value.status == 401
    assert caught.value.code == "Denied"
    assert await acs.client.sms_sent(include_failed=True) == []


async def test_undeliverable_number_is_rejected(acs: AcsEmulator, sms: AcsSms) -> None:
    await acs.client.set_sms_unreachable(CUSTOMER, reason="landline")
    with pytest.raises(SmsRejected) as caught:
        await sms.send(CUSTOMER, "hello")
    assert caught.value.status == 400
    assert "cannot receive SMS (landline)" in str(caught.value)
    assert await acs.client.sms_sent(CUSTOMER) == []
    [failed] = await acs.client.sms_sent(CUSTOMER, include_failed=True)
    assert not failed.successful and failed.message_id is None

    with pytest.raises(SmsRejected, match="Invalid To phone number format"):
        await sms.send("+112345678901", "hello")


async def test_sender_must_be_the_bot(acs: AcsEmulator) -> None:
    async with AcsSms(acs.endpoint, acs.access_key, "+15550000000") as sms:
        with pytest.raises(SmsRejected) as caught:
            await sms.send(CUSTOMER, "hello")
    assert caught.value.status == 400
    assert caught.value.code == "InvalidFrom"


async def test_same_idempotency_key_sends_once(acs: AcsEmulator, sms: AcsSms) -> None:
    first_sent = datetime.now(UTC)
    key = "call-42/summary"
    first = await sms.send(CUSTOMER, "Summary", idempotency_key=key, first_sent=first_sent)
    again = await sms.send(CUSTOMER, "Summary", idempotency_key=key, first_sent=first_sent)
    assert again.message_id == first.message_id
    [record] = await acs.client.sms_sent(CUSTOMER)
    assert record.message_id == first.message_id

    # The same key for another text is a mismatched repeat, refused rather than sent.
    with pytest.raises(SmsRejected, match="already used"):
        await sms.send(CUSTOMER, "Other text", idempotency_key=key, first_sent=first_sent)
    # Another key, or no first_sent, is a new message.
    other = await sms.send(CUSTOMER, "Summary", idempotency_key="call-43", first_sent=first_sent)
    unkeyed = await sms.send(CUSTOMER, "Summary", idempotency_key=key)
    assert len({first.message_id, other.message_id, unkeyed.message_id}) == 3
    assert len(await acs.client.sms_sent(CUSTOMER)) == 3


async def test_unreachable_service_is_retryable() -> None:
    # Port 1 on loopback refuses at once; no SDK retries so the test stays fast.
    async with AcsSms("http://127.0.0.1:1", new_access_key(), "+18005550100", retry_total=0) as sms:
        with pytest.raises(SmsUnavailable) as caught:
            await sms.send(CUSTOMER, "hello")
    assert caught.value.status is None


async def test_rest_shapes_per_recipient(acs: AcsEmulator) -> None:
    """Raw request with the shapes of the REST spec's example, including its failures."""
    request_id = str(uuid.uuid4())
    body = {
        "from": acs.bot_number,
        "smsRecipients": [
            {"to": CUSTOMER},
            {"to": "+112345678901"},
            {
                "to": "+15550007002",
                "repeatabilityRequestId": request_id,
                "repeatabilityFirstSent": "Mon, 01 Apr 2019 06:22:03 GMT",
            },
            {"to": "+15550007003", "repeatabilityRequestId": str(uuid.uuid4())},
        ],
        "message": "Hello world!",
        "smsSendOptions": {"enableDeliveryReport": True, "tag": "testSmsRequest"},
    }
    raw = json.dumps(body).encode()
    path = "/sms?api-version=2021-03-07"
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            acs.endpoint + path, data=raw, headers=signed_headers(acs, "POST", path, raw)
        ) as response,
    ):
        assert response.status == 202
        ok, bad_number, repeatable, bad_first_sent = (await response.json())["value"]
    assert ok["successful"] and ok["httpStatusCode"] == 202 and ok["to"] == CUSTOMER
    assert bad_number == {
        "to": "+112345678901",
        "httpStatusCode": 400,
        "errorMessage": "Invalid To phone number format.",
        "successful": False,
    }
    assert repeatable["successful"] and repeatable["repeatabilityResult"] == "accepted"
    assert not bad_first_sent["successful"]
    assert bad_first_sent["repeatabilityResult"] == "rejected"
    assert "repeatability-first-sent" in bad_first_sent["errorMessage"]
    sent = await acs.client.sms_sent()
    assert [m.to_number for m in sent] == [CUSTOMER, "+15550007002"]
    assert {m.tag for m in sent} == {"testSmsRequest"}


async def test_text_to_the_bot_arrives_over_event_grid(acs: AcsEmulator) -> None:
    receiver = EventGridReceiver()
    await receiver.start()
    try:
        await acs.client.configure(event_grid_url=receiver.url)
        result = await acs.client.send_sms_to_bot(CUSTOMER, "Is my claim filed? ✅")
        assert result.delivered, result.detail
        kinds = [(kind, event["eventType"]) for kind, event in receiver.received]
        assert kinds == [
            ("SubscriptionValidation", VALIDATION_EVENT),
            ("Notification", SMS_RECEIVED_EVENT),
        ]
        event = receiver.received[1][1]
        assert event == result.event
        inbound = from_event_grid(event)
        assert inbound.from_number == CUSTOMER
        assert inbound.to_number == acs.bot_number
        assert inbound.text == "Is my claim filed? ✅"
        assert inbound.message_id == result.message_id
        assert inbound.message_id.startswith("Incoming_")
        assert inbound.received_at.tzinfo is not None
        assert inbound.provider == "acs"

        # Validated once per URL.
        assert (await acs.client.send_sms_to_bot(CUSTOMER, "again")).delivered
        assert [kind for kind, _ in receiver.received].count("SubscriptionValidation") == 1
    finally:
        await acs.client.configure(event_grid_url=None)
        await receiver.stop()


async def test_text_without_event_grid_is_not_delivered(acs: AcsEmulator) -> None:
    await acs.client.configure(event_grid_url=None)
    result = await acs.client.send_sms_to_bot(CUSTOMER, "hello")
    assert not result.delivered
    assert "event_grid_url" in result.detail
