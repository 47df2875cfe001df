"""Parsing texts to the bot: ACS Event Grid events and Twilio webhook forms."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from providers.sms.inbound import (
    SMS_RECEIVED_EVENT,
    InboundSms,
    from_event_grid,
    from_twilio_form,
    normalize_number,
)


def docs_event(**data_changes: Any) -> dict[str, Any]:
    """The SMSReceived sample of the Event Grid docs (numbers without `+`)."""
    data = {
        "messageId": "Incoming_20200918002745d29ebbea-3341-4466-9690-0a03af35228e",
        "from": "15555555555",
        "to": "18005550100",
        "message": "Great to connect with Azure Communication Services events",
        "receivedTimestamp": "2020-09-18T00:27:45.32Z",
        "segmentCount": 1,
    }
    data.update(data_changes)
    return {
        "id": "Incoming_20200918002745d29ebbea-3341-4466-9690-0a03af35228e",
        "topic": "/subscriptions/x/resourcegroups/acse2e/providers/microsoft.communication/"
        "communicationservices/acs",
        "subject": "/phonenumber/15555555555",
        "data": {k: v for k, v in data.items() if v is not None},
        "eventType": SMS_RECEIVED_EVENT,
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "eventTime": "2020-09-18T00:27:47Z",
    }


def test_event_grid_docs_sample() -> None:
    sms = from_event_grid(docs_event())
    assert sms == InboundSms(
        from_number="+15555555555",
        to_number="+18005550100",
        text="Great to connect with Azure Communication Services events",
        message_id="Incoming_20200918002745d29ebbea-3341-4466-9690-0a03af35228e",
        received_at=datetime(2020, 9, 18, 0, 27, 45, 320_000, tzinfo=UTC),
        provider="acs",
    )


def test_event_grid_variants() -> None:
    # E.164 with +, PascalCase keys of the first samples, CloudEvents envelope, no timestamp.
    assert from_event_grid(docs_event(**{"from": "+15555555555"})).from_number == "+15555555555"
    pascal = docs_event()
    pascal["data"] = {k[0].upper() + k[1:]: v for k, v in pascal["data"].items()}
    assert from_event_grid(pascal) == from_event_grid(docs_event())
    cloud = docs_event(receivedTimestamp=None)
    cloud["type"] = cloud.pop("eventType")
    cloud["time"] = cloud.pop("eventTime")
    assert from_event_grid(cloud).received_at == datetime(2020, 9, 18, 0, 27, 47, tzinfo=UTC)
    naive = from_event_grid(docs_event(receivedTimestamp="2020-09-18T00:27:45"))
    assert naive.received_at.tzinfo is UTC
    # An empty text (e.g. media only) is still a message.
    assert from_event_grid(docs_event(message="")).text == ""


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({**docs_event(), "eventType": "Microsoft.Communication.IncomingCall"}, "not an SMS"),
        ({**docs_event(), "data": "oops"}, "no data object"),
        (docs_event(message=None), "data.message"),
        (docs_event(message=42), "data.message"),
        (docs_event(**{"from": None}), "data.from is missing"),
        (docs_event(**{"from": "not a number"}), "not an E.164"),
        (docs_event(to="+0123456789"), "data.to"),
        (docs_event(receivedTimestamp="yesterday"), "not an ISO 8601"),
        (
            {**docs_event(), "id": None, "data": {**docs_event()["data"], "messageId": ""}},
            "messageId is missing",
        ),
        ([], "JSON object"),
    ],
    ids=[
        "type",
        "data",
        "no-text",
        "text-type",
        "no-from",
        "bad-from",
        "bad-to",
        "time",
        "id",
        "array",
    ],
)
def test_event_grid_malformed(event: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        from_event_grid(event)


TWILIO_FORM = {
    "ToCountry": "US",
    "SmsMessageSid": "SM0123456789abcdef0123456789abcdef",
    "NumMedia": "0",
    "From": "+15555550123",
    "To": "+18005550100",
    "Body": "Is my claim filed?",
    "MessageSid": "SM0123456789abcdef0123456789abcdef",
    "AccountSid": "AC0123456789abcdef0123456789abcdef",
}


def test_twilio_form() -> None:
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    sms = from_twilio_form(TWILIO_FORM, received_at=at)
    assert sms == InboundSms(
        from_number="+15555550123",
        to_number="+18005550100",
        text="Is my claim filed?",
        message_id="SM0123456789abcdef0123456789abcdef",
        received_at=at,
        provider="twilio",
    )
    assert from_twilio_form(TWILIO_FORM).received_at.tzinfo is not None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"Body": None}, "Body is missing"),
        ({"MessageSid": None, "SmsMessageSid": None}, "MessageSid is missing"),
        ({"From": None}, "From is missing"),
        ({"From": "+1"}, "From '\\+1' is not an E.164"),
        ({"To": ""}, "To is missing"),
    ],
)
def test_twilio_form_malformed(changes: dict[str, str | None], reason: str) -> None:
    form = {k: v for k, v in (TWILIO_FORM | changes).items() if v is not None}
    with pytest.raises(ValueError, match=reason):
        from_twilio_form(form)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+15555550123", "+15555550123"),
        ("15555550123", "+15555550123"),
        ("0033612345678", "+33612345678"),
        (" +1 (555) 555-0123 ", "+15555550123"),
    ],
)
def test_normalize_number(raw: str, expected: str) -> None:
    assert normalize_number(raw, "n") == expected
