"""What ACS POSTs to us, parsed into domain objects. Pure: no I/O, no clock.

- Call Automation callbacks: a JSON array of CloudEvents 1.0 (`parse_callback`).
- Event Grid deliveries: a JSON array in the Event Grid schema (`parse_event_grid`), holding the
  subscription handshake and `IncomingCall` events.

Unknown event types are kept (with their whole `data`): the caller logs and acknowledges them.
Anything that is not the documented shape raises `InvalidEvent` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from azure.core.messaging import CloudEvent

from domain.contracts import AcsEvent, IncomingCall

__all__ = [
    "INCOMING_CALL",
    "SUBSCRIPTION_VALIDATION",
    "EventGridBatch",
    "IncomingCallEvent",
    "InvalidEvent",
    "ParsedEvent",
    "parse_callback",
    "parse_event_grid",
]

PREFIX = "Microsoft.Communication."
SUBSCRIPTION_VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
INCOMING_CALL = "Microsoft.Communication.IncomingCall"
_CONNECTION_SOURCE = "calling/callConnections/"

# A callback event, as signalled to the call's workflow.
ParsedEvent = AcsEvent


class InvalidEvent(ValueError):
    """The body is not what ACS or Event Grid sends."""


@dataclass(frozen=True)
class IncomingCallEvent:
    """An `IncomingCall` with what the domain object leaves out: who exactly is calling."""

    event_id: str
    call: IncomingCall  # `caller` is the E.164 number, or the raw id of a non-phone caller
    caller_kind: str  # "phoneNumber", "communicationUser", "microsoftTeamsUser", ...
    caller_is_phone_number: bool
    recipient: str | None  # the number (or raw id) that was called


@dataclass(frozen=True)
class EventGridBatch:
    validation_code: str | None = None  # reply {"validationResponse": code} when set
    validation_url: str | None = None
    incoming: list[IncomingCallEvent] = field(default_factory=list)
    others: list[dict[str, Any]] = field(default_factory=list)  # raw events of other types

    @property
    def incoming_calls(self) -> list[IncomingCall]:
        return [event.call for event in self.incoming]


def parse_callback(body: Any) -> list[AcsEvent]:
    """The events of one Call Automation callback (a CloudEvents array), in order."""
    return [_callback_event(i, item) for i, item in enumerate(_array(body))]


def parse_event_grid(body: Any) -> EventGridBatch:
    """One Event Grid delivery: the validation handshake, incoming calls, other events."""
    validation_code: str | None = None
    validation_url: str | None = None
    incoming: list[IncomingCallEvent] = []
    others: list[dict[str, Any]] = []
    for i, item in enumerate(_array(body)):
        event = _object(item, f"event {i}")
        event_type = _required_str(event, "eventType", f"event {i}")
        where = f"event {i} ({event_type})"
        event_id = _required_str(event, "id", where)
        data = _object(event.get("data"), f"{where} data")
        if event_type == SUBSCRIPTION_VALIDATION:
            validation_code = _required_str(data, "validationCode", where)
            validation_url = _optional_str(data, "validationUrl", where)
        elif event_type == INCOMING_CALL:
            incoming.append(_incoming_call(event_id, data, where))
        else:
            others.append(event)
    return EventGridBatch(validation_code, validation_url, incoming, others)


def _callback_event(index: int, item: Any) -> AcsEvent:
    event = _object(item, f"event {index}")
    event_type = _required_str(event, "type", f"event {index}")
    where = f"event {index} ({event_type})"
    _required_str(event, "id", where)  # CloudEvent.from_dict would invent one: no dedup then
    _required_str(event, "source", where)
    data = _object(event.get("data"), f"{where} data")
    if event.get("specversion", "1.0") != "1.0":
        raise InvalidEvent(f"{where}: specversion {event.get('specversion')!r} is not 1.0")
    for name in ("time", "subject", "datacontenttype", "dataschema"):
        if event.get(name) is not None and not isinstance(event[name], str):
            raise InvalidEvent(f"{where}: {name!r} is not a string")
    try:
        cloud: CloudEvent[Any] = CloudEvent.from_dict(event)
    except (ValueError, TypeError, LookupError) as exc:  # the SDK's parse of a bad `time`
        raise InvalidEvent(f"{where}: {exc}") from exc
    raw_result = data.get("resultInformation")
    result = {} if raw_result is None else _object(raw_result, f"{where} resultInformation")
    return AcsEvent(
        id=cloud.id,
        type=cloud.type.removeprefix(PREFIX),
        connection_id=(
            _optional_str(data, "callConnectionId", where) or _connection_from_source(cloud)
        ),
        server_call_id=_optional_str(data, "serverCallId", where),
        correlation_id=_optional_str(data, "correlationId", where),
        operation_context=_optional_str(data, "operationContext", where),
        result_code=_optional_int(result, "code", where),
        result_sub_code=_optional_int(result, "subCode", where),
        result_message=_optional_str(result, "message", where),
        data=data,
    )


def _connection_from_source(event: CloudEvent[Any]) -> str | None:
    # Call events name their connection in `source`/`subject`; recording events do not.
    for value in (event.subject, event.source):
        if isinstance(value, str) and value.startswith(_CONNECTION_SOURCE):
            connection = value.removeprefix(_CONNECTION_SOURCE).split("/", 1)[0]
            if connection:
                return connection
    return None


def _incoming_call(event_id: str, data: dict[str, Any], where: str) -> IncomingCallEvent:
    caller = _object(data.get("from"), f"{where} data.from")
    kind, caller_id, is_phone = _identifier(caller, f"{where} data.from")
    recipient: str | None = None
    if data.get("to") is not None:
        recipient = _identifier(_object(data["to"], f"{where} data.to"), f"{where} data.to")[1]
    context = _required_str(data, "incomingCallContext", where)
    call = IncomingCall(
        caller=caller_id,
        incoming_call_context=context,
        server_call_id=_optional_str(data, "serverCallId", where),
        correlation_id=_optional_str(data, "correlationId", where),
    )
    return IncomingCallEvent(event_id, call, kind, is_phone, recipient)


def _identifier(identifier: dict[str, Any], where: str) -> tuple[str, str, bool]:
    """(kind, id, is a phone number): E.164 for phone numbers, the raw id otherwise."""
    raw_id = _optional_str(identifier, "rawId", where)
    phone = identifier.get("phoneNumber")
    kind = _optional_str(identifier, "kind", where)
    if kind == "phoneNumber" or (kind is None and phone is not None):
        number = None
        if phone is not None:
            number = _optional_str(_object(phone, f"{where}.phoneNumber"), "value", where)
        if number is None and raw_id is not None and raw_id.startswith("4:"):
            number = raw_id.removeprefix("4:")
        if not number:
            raise InvalidEvent(f"{where}: phone number identifier without a number")
        return "phoneNumber", number, True
    if not raw_id:
        raise InvalidEvent(f"{where}: identifier without rawId")
    return kind or "unknown", raw_id, False


def _array(body: Any) -> list[Any]:
    if not isinstance(body, list):
        raise InvalidEvent(f"expected a JSON array of events, got {_json_type(body)}")
    return body


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidEvent(f"{where} is not a JSON object (got {_json_type(value)})")
    return value


def _required_str(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidEvent(f"{where}: missing or empty {key!r}")
    return value


def _optional_str(obj: dict[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise InvalidEvent(f"{where}: {key!r} is not a string")


def _optional_int(obj: dict[str, Any], key: str, where: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent(f"{where}: {key!r} is not an integer")
    return value


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number" if isinstance(value, int | float) else "unknown")
