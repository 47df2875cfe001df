"""Parsing ACS callbacks and Event Grid deliveries, on events recorded from the real service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from providers.telephony.acs_events import (
    INCOMING_CALL,
    SUBSCRIPTION_VALIDATION,
    InvalidEvent,
    parse_callback,
    parse_event_grid,
)

# Vendored from the Azure SDK for Python live tests (MIT); see the README there.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "acs-events"
CONNECTION = "411f0b00-f8fc-4e16-b8a0-bfed0b37635b"


def _recorded() -> list[tuple[str, str, int, Any]]:
    """(file, event type, index, recorded payload) for every recorded event."""
    cases = []
    for path in sorted(FIXTURES.glob("*.json")):
        for event_type, recorded in json.loads(path.read_text()).items():
            items = recorded if isinstance(recorded, list) else [recorded]
            for index, item in enumerate(items):
                cases.append((path.name, event_type, index, item))
    return cases


RECORDED = _recorded()
CALL_EVENTS = [case for case in RECORDED if case[1] != "IncomingCall"]
INCOMING = [case for case in RECORDED if case[1] == "IncomingCall"]


def _ids(cases: list[tuple[str, str, int, Any]]) -> list[str]:
    return [f"{name.removesuffix('.json')}-{kind}-{index}" for name, kind, index, _ in cases]


def _wire(value: Any) -> Any:
    """What the route hands over: the body as sent over HTTP, then decoded."""
    return json.loads(json.dumps(value))


def _event_grid(data: dict[str, Any], event_type: str = INCOMING_CALL) -> dict[str, Any]:
    """The Event Grid envelope around a recorded `data` part."""
    return {
        "id": "0f3a6b7e-7c1d-4f7e-9a61-2f0a0f6d1c11",
        "topic": "/subscriptions/s/resourceGroups/rg/providers/"
        "Microsoft.Communication/communicationServices/acs",
        "subject": "/caller/x/recipient/y",
        "data": data,
        "eventType": event_type,
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "eventTime": "2024-04-10T19:10:40.1234567Z",
    }


def test_fixtures_are_there() -> None:
    assert len({case[0] for case in RECORDED}) == 12
    assert len(CALL_EVENTS) > 50 and len(INCOMING) == 12


@pytest.mark.parametrize(("name", "kind", "index", "recorded"), CALL_EVENTS, ids=_ids(CALL_EVENTS))
def test_every_recorded_callback_event_parses(
    name: str, kind: str, index: int, recorded: dict[str, Any]
) -> None:
    # Recorded call events are whole CloudEvents; ACS POSTs them as a JSON array.
    [event] = parse_callback(_wire([recorded]))
    data = recorded["data"]
    assert event.id == recorded["id"]
    assert event.type == kind == recorded["type"].removeprefix("Microsoft.Communication.")
    assert event.connection_id == data["callConnectionId"]
    assert event.server_call_id == data["serverCallId"]
    assert event.correlation_id == data["correlationId"]
    assert event.operation_context == data.get("operationContext")
    result = data.get("resultInformation")
    if result is None:
        assert (event.result_code, event.result_sub_code, event.result_message) == (None,) * 3
    else:
        assert event.result_code == result["code"]
        assert event.result_sub_code == result["subCode"]
        assert event.result_message == result["message"]
    assert event.data == data


@pytest.mark.parametrize(("name", "kind", "index", "recorded"), INCOMING, ids=_ids(INCOMING))
def test_every_recorded_incoming_call_parses(
    name: str, kind: str, index: int, recorded: dict[str, Any]
) -> None:
    batch = parse_event_grid(_wire([_event_grid(recorded)]))
    assert batch.validation_code is None and batch.others == []
    [incoming] = batch.incoming
    caller = recorded["from"]
    assert incoming.caller_kind == caller["kind"]
    if caller["kind"] == "phoneNumber":
        assert incoming.caller_is_phone_number
        assert incoming.call.caller == caller["phoneNumber"]["value"]
    else:
        assert not incoming.caller_is_phone_number
        assert incoming.call.caller == caller["rawId"]
    assert incoming.recipient is not None
    assert incoming.call.incoming_call_context == recorded["incomingCallContext"]
    assert incoming.call.server_call_id == recorded["serverCallId"]
    assert incoming.call.correlation_id == recorded.get("correlationId")
    assert batch.incoming_calls == [incoming.call]


def test_a_whole_recorded_call_parses_in_order() -> None:
    recorded = json.loads((FIXTURES / "play_media_in_a_call.json").read_text())
    body = [recorded[kind] for kind in recorded if kind != "IncomingCall"]
    events = parse_callback(_wire(body))
    assert [e.type for e in events] == [
        "CallConnected",
        "ParticipantsUpdated",
        "PlayCompleted",
        "CallDisconnected",
    ]
    assert {e.connection_id for e in events} == {CONNECTION}
    assert events[2].result_code == 200 and events[2].result_sub_code == 0


def test_play_failed_keeps_its_details() -> None:
    recorded = json.loads((FIXTURES / "play_invalid_file_source.json").read_text())
    [event] = parse_callback(_wire(recorded["PlayFailed"]))
    assert (event.type, event.result_code, event.result_sub_code) == ("PlayFailed", 400, 8535)
    assert "failedPlaySourceIndex" in event.data


def test_recording_events_take_the_connection_from_data() -> None:
    # Their source is calling/recordings/..., not the connection.
    recorded = json.loads((FIXTURES / "start_recording.json").read_text())
    [event] = parse_callback(_wire([recorded["RecordingStateChanged"]]))
    assert event.connection_id == recorded["RecordingStateChanged"]["data"]["callConnectionId"]
    assert event.data["state"] == "active"


def _cloud_event(event_type: str, data: Any, **extra: Any) -> dict[str, Any]:
    return {
        "id": "e1",
        "source": f"calling/callConnections/{CONNECTION}",
        "subject": f"calling/callConnections/{CONNECTION}",
        "type": event_type,
        "specversion": "1.0",
        "datacontenttype": "application/json",
        "time": "2026-01-01T10:00:00.1234567+00:00",
        "data": data,
        **extra,
    }


def test_unknown_types_are_kept_with_their_data() -> None:
    data = {"callConnectionId": CONNECTION, "novelty": {"x": [1, 2]}}
    [event] = parse_callback([_cloud_event("Microsoft.Communication.SomethingNew", data)])
    assert event.type == "SomethingNew"
    assert event.data == data
    [other] = parse_callback([_cloud_event("Contoso.Custom", {"a": 1})])
    assert other.type == "Contoso.Custom"


def test_connection_falls_back_to_the_source() -> None:
    [event] = parse_callback([_cloud_event("Microsoft.Communication.CallConnected", {})])
    assert event.connection_id == CONNECTION


def test_recognize_completed_choice() -> None:
    data = {
        "callConnectionId": CONNECTION,
        "operationContext": "ivr_lang_select",
        "recognitionType": "choices",
        "choiceResult": {"label": "fr-FR", "recognizedPhrase": "French"},
        "resultInformation": {"code": 200, "subCode": 8545, "message": "Action completed."},
    }
    [event] = parse_callback([_cloud_event("Microsoft.Communication.RecognizeCompleted", data)])
    assert event.operation_context == "ivr_lang_select"
    assert event.result_sub_code == 8545
    assert event.data["choiceResult"] == {"label": "fr-FR", "recognizedPhrase": "French"}


def test_an_empty_batch_is_no_events() -> None:
    assert parse_callback([]) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"type": "x"}, "JSON array"),
        ("[]", "JSON array"),
        (None, "JSON array"),
        (["not an object"], "event 0 is not a JSON object"),
        ([_cloud_event("Microsoft.Communication.CallConnected", {}), 3], "event 1"),
        ([{k: v for k, v in _cloud_event("T", {}).items() if k != "type"}], "'type'"),
        ([{k: v for k, v in _cloud_event("T", {}).items() if k != "id"}], "'id'"),
        ([{k: v for k, v in _cloud_event("T", {}).items() if k != "source"}], "'source'"),
        ([{k: v for k, v in _cloud_event("T", {}).items() if k != "data"}], "data"),
        ([_cloud_event("T", ["a"])], "data is not a JSON object"),
        ([_cloud_event("T", {}, specversion="0.3")], "specversion"),
        ([_cloud_event("T", {}, time="yesterday")], "event 0"),
        ([_cloud_event("T", {"callConnectionId": 42})], "'callConnectionId'"),
        ([_cloud_event("T", {"resultInformation": "ok"})], "resultInformation"),
        ([_cloud_event("T", {"resultInformation": {"code": "200"}})], "'code'"),
    ],
)
def test_malformed_callbacks_are_rejected(body: Any, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason.replace("(", r"\(")):
        parse_callback(body)


def test_invalid_event_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_callback({})


def test_event_grid_subscription_validation() -> None:
    body = [
        _event_grid(
            {
                "validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6",
                "validationUrl": "https://v",
            },
            SUBSCRIPTION_VALIDATION,
        )
    ]
    batch = parse_event_grid(body)
    assert batch.validation_code == "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"
    assert batch.validation_url == "https://v"
    assert batch.incoming == [] and batch.others == []


def test_event_grid_phone_caller_from_raw_id_only() -> None:
    data = {
        "from": {"kind": "phoneNumber", "rawId": "4:+33612345678"},
        "to": {"kind": "phoneNumber", "rawId": "4:+18662315126", "phoneNumber": {"value": "+1866"}},
        "incomingCallContext": "ctx",
    }
    [incoming] = parse_event_grid([_event_grid(data)]).incoming
    assert incoming.call.caller == "+33612345678"
    assert incoming.caller_is_phone_number
    assert incoming.recipient == "+1866"


def test_event_grid_communication_user_caller_is_flagged() -> None:
    raw = "8:acs:1bdaa2b9-9507-4542-bb64-a7b22c00a8d4_0000001f"
    data = {
        "from": {"kind": "communicationUser", "rawId": raw, "communicationUser": {"id": raw}},
        "incomingCallContext": "ctx",
    }
    [incoming] = parse_event_grid([_event_grid(data)]).incoming
    assert incoming.call.caller == raw
    assert incoming.caller_kind == "communicationUser"
    assert not incoming.caller_is_phone_number
    assert incoming.recipient is None


def test_event_grid_keeps_other_events_raw() -> None:
    sms = _event_grid({"from": "+336", "message": "hi"}, "Microsoft.Communication.SMSReceived")
    phone = {"kind": "phoneNumber", "rawId": "4:+33612345678", "phoneNumber": {"value": "+336"}}
    call = _event_grid({"from": phone, "incomingCallContext": "ctx"})
    batch = parse_event_grid([sms, call])
    assert batch.others == [sms]
    assert [c.caller for c in batch.incoming_calls] == ["+336"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "JSON array"),
        ([1], "event 0 is not a JSON object"),
        ([{"id": "x", "data": {}}], "'eventType'"),
        ([{"eventType": INCOMING_CALL, "data": {}}], "'id'"),
        ([{"id": "x", "eventType": INCOMING_CALL}], "data is not a JSON object"),
        ([_event_grid({}, SUBSCRIPTION_VALIDATION)], "'validationCode'"),
        ([_event_grid({"incomingCallContext": "c"})], "data.from"),
        (
            [_event_grid({"from": {"kind": "phoneNumber"}, "incomingCallContext": "c"})],
            "without a number",
        ),
        (
            [_event_grid({"from": {"kind": "communicationUser"}, "incomingCallContext": "c"})],
            "rawId",
        ),
        (
            [_event_grid({"from": {"kind": "phoneNumber", "rawId": "4:+33612345678"}})],
            "'incomingCallContext'",
        ),
    ],
)
def test_malformed_event_grid_deliveries_are_rejected(body: Any, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        parse_event_grid(body)
