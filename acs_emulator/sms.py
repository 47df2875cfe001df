"""ACS SMS: `POST /sms` as `azure-communication-sms` 1.1.0 sends it, and texts to the bot.

The request (api-version 2021-03-07, HMAC like `/calling`): `{"from", "smsRecipients": [{"to",
"repeatabilityRequestId"?, "repeatabilityFirstSent"?}], "message", "smsSendOptions":
{"enableDeliveryReport", "tag"?}}`. The answer is always 202 with one result per recipient:
`{"value": [{"to", "messageId", "httpStatusCode", "successful", "errorMessage"?,
"repeatabilityResult"?}]}` (shapes from the SDK's generated models and the REST spec's example).

Repeatability is per recipient, in the body. A request id seen in the last
`repeatability_ttl_s` with the same from/to/message gets the first result again (same
`messageId`, no second message); with another message it gets 400 `rejected`, as does a request
id that is not a UUID or comes without an RFC 1123 first-sent time. As in the spec's example,
the first-sent time's age is not checked.

Texts to the bot (`send_sms_to_bot`) go to the Event Grid URL as
`Microsoft.Communication.SMSReceived`, after the same validation handshake as IncomingCall.

Not from a recording (invented): a `from` that is not the bot's number answers 400
`InvalidFrom`; a number marked unable to receive SMS gets a 400 result "The recipient cannot
receive SMS (...)"; malformed bodies answer 400 `BadRequest`. Not emulated: delivery reports
(`SMSDeliveryReportReceived`), throttling, opt-out keywords, MMS.
"""

from __future__ import annotations

import json
import logging
import math
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import phonenumbers
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from acs_emulator.emulator import Emulator
from acs_emulator.errors import AcsError
from acs_emulator.models import Delivery, InboundSmsResult, SmsRecord
from acs_emulator.rest import EMULATOR_KEY

log = logging.getLogger(__name__)

SMS_RECEIVED_EVENT = "Microsoft.Communication.SMSReceived"
MAX_RECIPIENTS = 100  # documented for 2021-03-07
MAX_MESSAGE_CHARS = 2048  # the SDK model's max_length

M = TypeVar("M", bound=BaseModel)


class _Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class SmsRecipient(_Body):
    to: str
    repeatability_request_id: str | None = None
    repeatability_first_sent: str | None = None


class SmsSendOptions(_Body):
    enable_delivery_report: bool = False
    tag: str | None = None


class SendMessageRequest(_Body):
    from_: str = Field(alias="from")
    sms_recipients: list[SmsRecipient]
    message: str
    sms_send_options: SmsSendOptions | None = None


class InboundSmsRequest(BaseModel):
    from_number: str
    text: str
    to_number: str | None = None


class UnreachableRequest(BaseModel):
    number: str
    reason: str = "landline or opted out"


@dataclass
class _Repeat:
    first_seen: float
    fingerprint: tuple[str, str, str]
    result: dict[str, Any]


def _now() -> datetime:
    return datetime.now(UTC)


def _message_id(direction: str) -> str:
    """`Outgoing_20200610203725bfd4ba70-…`: a UTC timestamp then a UUID, as ACS writes them."""
    return f"{direction}_{_now():%Y%m%d%H%M%S}{uuid.uuid4()}"


def _is_e164(number: str) -> bool:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    canonical = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.is_possible_number(parsed) and canonical == number


def segment_count(text: str) -> int:
    """Carrier segments: 160/153 GSM-7 characters, 70/67 when anything needs UCS-2."""
    single, multi = (160, 153) if all(ord(c) < 128 for c in text) else (70, 67)
    return 1 if len(text) <= single else math.ceil(len(text) / multi)


class SmsCenter:
    """Messages the bot sent, numbers that cannot receive SMS, and repeatability entries."""

    def __init__(self, emulator: Emulator) -> None:
        self._emulator = emulator
        self.messages: list[SmsRecord] = []
        self.unreachable: dict[str, str] = {}  # number -> why it cannot receive SMS
        self._repeats: dict[str, _Repeat] = {}

    def reset(self) -> None:
        self.messages.clear()
        self.unreachable.clear()
        self._repeats.clear()

    # --- the bot sends ------------------------------------------------------------------------

    def send(self, request: SendMessageRequest) -> list[dict[str, Any]]:
        """One result per recipient; raises AcsError for a request refused as a whole."""
        bot = self._emulator.config.bot_number
        if request.from_ != bot:
            raise AcsError(
                400, "InvalidFrom", f"{request.from_} is not an SMS number of this resource."
            )
        if not 1 <= len(request.sms_recipients) <= MAX_RECIPIENTS:
            raise AcsError(400, "BadRequest", f"smsRecipients needs 1 to {MAX_RECIPIENTS} items.")
        if len(request.message) > MAX_MESSAGE_CHARS:
            raise AcsError(400, "BadRequest", f"message is over {MAX_MESSAGE_CHARS} characters.")
        ttl = self._emulator.config.repeatability_ttl_s
        now = time.monotonic()
        for key in [k for k, r in self._repeats.items() if now - r.first_seen > ttl]:
            del self._repeats[key]
        return [self._send_one(request, recipient, now) for recipient in request.sms_recipients]

    def _send_one(
        self, request: SendMessageRequest, recipient: SmsRecipient, now: float
    ) -> dict[str, Any]:
        request_id = recipient.repeatability_request_id
        if request_id is None:
            return self._deliver(request, recipient)
        problem = _repeatability_problem(request_id, recipient.repeatability_first_sent)
        if problem is not None:
            return _failed(recipient.to, 400, problem, repeatability="rejected")
        fingerprint = (request.from_, recipient.to, request.message)
        seen = self._repeats.get(request_id)
        if seen is not None:
            if seen.fingerprint != fingerprint:
                message = "repeatabilityRequestId was already used for a different message."
                return _failed(recipient.to, 400, message, repeatability="rejected")
            log.info("sms to %s replayed (%s)", recipient.to, request_id)
            return dict(seen.result)
        result = {**self._deliver(request, recipient), "repeatabilityResult": "accepted"}
        self._repeats[request_id] = _Repeat(now, fingerprint, result)
        return dict(result)

    def _deliver(self, request: SendMessageRequest, recipient: SmsRecipient) -> dict[str, Any]:
        options = request.sms_send_options or SmsSendOptions()
        record = SmsRecord(
            message_id=None,
            from_number=request.from_,
            to_number=recipient.to,
            body=request.message,
            tag=options.tag,
            delivery_report=options.enable_delivery_report,
            repeatability_request_id=recipient.repeatability_request_id,
            successful=False,
            http_status_code=400,
            sent_at=_now(),
        )
        if not _is_e164(recipient.to):
            record.error_message = "Invalid To phone number format."
        elif recipient.to in self.unreachable:
            reason = self.unreachable[recipient.to]
            record.error_message = f"The recipient cannot receive SMS ({reason})."
        else:
            record.message_id = _message_id("Outgoing")
            record.successful, record.http_status_code = True, 202
        self.messages.append(record)
        self._emulator.touch()
        log.info("sms to %s: %s", recipient.to, record.error_message or record.message_id)
        if not record.successful:
            return _failed(recipient.to, record.http_status_code, record.error_message or "")
        return {
            "to": recipient.to,
            "messageId": record.message_id,
            "httpStatusCode": 202,
            "successful": True,
        }

    # --- a phone texts the bot ----------------------------------------------------------------

    async def receive(self, from_number: str, text: str, to_number: str | None) -> InboundSmsResult:
        """Deliver `Microsoft.Communication.SMSReceived` to the Event Grid URL."""
        to_number = to_number or self._emulator.config.bot_number
        if to_number != self._emulator.config.bot_number:
            raise AcsError(404, "NotFound", f"{to_number} is not a number of this ACS resource.")
        message_id = _message_id("Incoming")
        received = _now()
        event_grid = self._emulator.event_grid
        event = {
            "id": message_id,
            "topic": event_grid.topic,
            "subject": f"/phonenumber/{to_number.lstrip('+')}",
            "data": {
                "messageId": message_id,
                "from": from_number,
                "to": to_number,
                "message": text,
                "receivedTimestamp": received.isoformat().replace("+00:00", "Z"),
                "segmentCount": segment_count(text),
            },
            "eventType": SMS_RECEIVED_EVENT,
            "dataVersion": "1.0",
            "metadataVersion": "1",
            "eventTime": _now().isoformat().replace("+00:00", "Z"),
        }
        result = InboundSmsResult(message_id=message_id, event=event, delivered=False)
        url = self._emulator.config.timings.event_grid_url
        if not url:
            result.detail = "no Event Grid subscription (event_grid_url is not set)"
            return result
        validation = await event_grid.ensure_validated(url)
        if not validation.ok:
            result.detail = f"Event Grid validation failed: {validation.detail}"
            return result
        delivery = Delivery(url=url, sent_at=_now())
        started = time.monotonic()
        # The IncomingCall delivery's POST (same headers, timeout and error capture).
        status, _, error = await event_grid._post(url, event, "Notification")
        delivery.status, delivery.error = status, error
        delivery.duration_ms = (time.monotonic() - started) * 1000
        result.delivery = delivery
        result.delivered = delivery.ok
        result.detail = error or f"webhook answered {status}"
        return result


def _failed(
    to: str, status: int, message: str, *, repeatability: str | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "to": to,
        "httpStatusCode": status,
        "errorMessage": message,
        "successful": False,
    }
    if repeatability is not None:
        result["repeatabilityResult"] = repeatability
    return result


def _repeatability_problem(request_id: str, first_sent: str | None) -> str | None:
    try:
        uuid.UUID(request_id)
    except ValueError:
        return "Request sent with Invalid value for repeatability-request-id. Expected is GUID."
    try:
        parsedate_to_datetime(first_sent or "")
    except (TypeError, ValueError):
        return (
            "Request sent with Invalid DateTime value for repeatability-first-sent. "
            "Expected is DateTime ,RFC1123 pattern."
        )
    return None


# --- HTTP ------------------------------------------------------------------------------------

SMS_KEY = web.AppKey("acs_sms", SmsCenter)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


def _control_error(status: int, message: str) -> web.Response:
    # The control API's error shape (control.ControlError), without importing control.py,
    # which imports this module for reset.
    return _json({"error": {"code": str(status), "message": message}}, status)


def _parse(model: type[M], raw: bytes) -> M:
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors()
        )
        raise AcsError(400, "BadRequest", problems) from exc


async def send_sms(request: web.Request) -> web.Response:
    """`POST /sms` (HMAC, api-version and header repeatability: `rest.acs_middleware`)."""
    body = _parse(SendMessageRequest, await request.read())
    return _json({"value": request.app[SMS_KEY].send(body)}, 202)


async def list_sms(request: web.Request) -> web.Response:
    number = request.query.get("number")
    include_failed = request.query.get("include_failed", "").lower() in ("1", "true")
    items = [
        m.model_dump(mode="json")
        for m in request.app[SMS_KEY].messages
        if (number is None or m.to_number == number) and (m.successful or include_failed)
    ]
    return _json(items)


async def mark_unreachable(request: web.Request) -> web.Response:
    try:
        body = _parse(UnreachableRequest, await request.read())
    except AcsError as exc:
        return _control_error(400, exc.message)
    request.app[SMS_KEY].unreachable[body.number] = body.reason
    return _json(body.model_dump())


async def inbound_sms(request: web.Request) -> web.Response:
    try:
        body = _parse(InboundSmsRequest, await request.read())
        result = await request.app[SMS_KEY].receive(body.from_number, body.text, body.to_number)
    except AcsError as exc:
        return _control_error(exc.status, exc.message)
    return _json(result.model_dump(mode="json"))


def setup(app: web.Application) -> None:
    """The SMS state of the app's emulator, and its REST and control routes."""
    app[SMS_KEY] = SmsCenter(app[EMULATOR_KEY])
    app.router.add_post("/sms", send_sms)
    app.router.add_get("/_emulator/sms", list_sms)
    app.router.add_post("/_emulator/sms/unreachable", mark_unreachable)
    app.router.add_post("/_emulator/sms/inbound", inbound_sms)
