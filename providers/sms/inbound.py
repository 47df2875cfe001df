"""Text messages to the bot: one model, parsed from ACS Event Grid events or Twilio webhooks.

Pure functions: no I/O, no SDK. Each parser raises `ValueError` saying what is wrong, so the
webhook can answer 400 with the reason instead of storing half a message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

SMS_RECEIVED_EVENT = "Microsoft.Communication.SMSReceived"

# Syntax only: numbering plans are checked where a number becomes a call's (domain.phone), and
# the fictional 555 numbers of tests and demos must pass here.
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SEPARATORS = re.compile(r"[\s().-]")


class InboundSms(BaseModel):
    """One text message a customer sent to one of the bot's numbers."""

    model_config = ConfigDict(frozen=True)

    from_number: str  # E.164
    to_number: str  # E.164
    text: str
    message_id: str  # the provider's id: retries of one delivery carry the same one
    received_at: datetime  # timezone-aware
    provider: Literal["acs", "twilio"]


def normalize_number(raw: object, field: str) -> str:
    """`raw` as E.164 (`+15555550123`); ACS events may omit the `+`, which is added back."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"{field} is missing or not a string")
    text = _SEPARATORS.sub("", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    elif text.isdigit():
        text = "+" + text
    if not _E164.match(text):
        raise ValueError(f"{field} {raw!r} is not an E.164 phone number")
    return text


def from_event_grid(event: Mapping[str, Any]) -> InboundSms:
    """An ACS `Microsoft.Communication.SMSReceived` event (one item of the POSTed array).

    Accepts the Event Grid schema (`eventType`, `eventTime`) and the CloudEvents one (`type`,
    `time`), and the PascalCase data keys (`From`, `Message`…) of older samples.
    """
    if not isinstance(event, Mapping):
        raise ValueError("an Event Grid event must be a JSON object")
    event_type = event.get("eventType", event.get("type"))
    if event_type != SMS_RECEIVED_EVENT:
        raise ValueError(f"not an SMS: event type {event_type!r}, expected {SMS_RECEIVED_EVENT}")
    data = event.get("data")
    if not isinstance(data, Mapping):
        raise ValueError("SMSReceived event has no data object")
    text = _field(data, "message")
    if not isinstance(text, str):
        raise ValueError("data.message is missing or not a string")
    message_id = _field(data, "messageId") or event.get("id")
    if not isinstance(message_id, str) or not message_id:
        raise ValueError("data.messageId is missing")
    stamp = _field(data, "receivedTimestamp") or event.get("eventTime") or event.get("time")
    return InboundSms(
        from_number=normalize_number(_field(data, "from"), "data.from"),
        to_number=normalize_number(_field(data, "to"), "data.to"),
        text=text,
        message_id=message_id,
        received_at=_timestamp(stamp, "data.receivedTimestamp"),
        provider="acs",
    )


def from_twilio_form(form: Mapping[str, str], *, received_at: datetime | None = None) -> InboundSms:
    """Twilio's incoming-message webhook (form fields `From`, `To`, `Body`, `MessageSid`).

    Twilio sends no receive time: `received_at` defaults to now.
    """
    body = form.get("Body")
    if body is None:
        raise ValueError("form field Body is missing")
    message_id = form.get("MessageSid") or form.get("SmsMessageSid")
    if not message_id:
        raise ValueError("form field MessageSid is missing")
    when = received_at or datetime.now(UTC)
    return InboundSms(
        from_number=normalize_number(form.get("From"), "From"),
        to_number=normalize_number(form.get("To"), "To"),
        text=body,
        message_id=message_id,
        received_at=when if when.tzinfo else when.replace(tzinfo=UTC),
        provider="twilio",
    )


def _field(data: Mapping[str, Any], name: str) -> Any:
    # Current events use camelCase; the first published samples used PascalCase.
    return data.get(name, data.get(name[0].upper() + name[1:]))


def _timestamp(raw: object, field: str) -> datetime:
    if not isinstance(raw, str) or not raw:
        raise ValueError(f"{field} is missing")
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"{field} {raw!r} is not an ISO 8601 time") from exc
    # Event Grid times are UTC; one without an offset is read as UTC, never as local time.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
