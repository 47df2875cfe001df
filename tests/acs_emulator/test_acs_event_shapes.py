"""Emitted events parse like real ones and have the recorded fixtures' shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from azure.communication.callautomation import PhoneNumberIdentifier, TextSource
from azure.communication.callautomation._generated import models as generated
from azure.communication.callautomation.aio import CallAutomationClient
from azure.core.messaging import CloudEvent

from acs_emulator import AcsEmulator
from tests.acs_emulator.bot_stub import BotStub
from tests.acs_emulator.helpers import AGENT, connected_call, media_options

FIXTURES = Path("/work/shared/fixtures/acs-events")


def recorded() -> dict[str, list[dict[str, Any]]]:
    """Event name -> recorded CloudEvents (IncomingCall is Event Grid data, left out)."""
    events: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(FIXTURES.glob("*.json")):
        for name, value in json.loads(path.read_text()).items():
            if name != "IncomingCall":
                events.setdefault(name, []).extend(value if isinstance(value, list) else [value])
    return events


def parse(event: dict[str, Any]) -> Any:
    """How an app parses a callback: CloudEvent, then the generated model if there is one."""
    cloud: CloudEvent[Any] = CloudEvent.from_dict(event)
    name = cloud.type.removeprefix("Microsoft.Communication.")
    model = getattr(generated, name, None)
    assert isinstance(cloud.data, dict)
    return model.deserialize(cloud.data) if model is not None else cloud.data


async def scripted_call(acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient) -> str:
    """One call that makes the emulator send every event type it knows."""
    await acs.client.add_phone(AGENT, answer="busy")
    connection_id, connection = await connected_call(acs, bot, sdk, media=media_options(bot))
    await bot.wait_for(connection_id, "MediaStreamingStarted")
    await connection.play_media(TextSource(text="Hello"), operation_context="p")
    await bot.wait_for(connection_id, "PlayCompleted")
    await connection.play_media(TextSource(text="x" * 300), operation_context="c")
    await bot.wait_for(connection_id, "PlayStarted")
    await connection.cancel_all_media_operations()
    await connection.start_recognizing_media(
        "dtmf", PhoneNumberIdentifier(AGENT), initial_silence_timeout=1
    )
    await bot.wait_for(connection_id, "RecognizeFailed")
    await connection.start_recognizing_media("dtmf", PhoneNumberIdentifier(AGENT))
    await acs.client.wait_for_call(connection_id, lambda c: c.recognizes[-1].status == "listening")
    await acs.client.press(connection_id, "7")
    await bot.wait_for(connection_id, "RecognizeCompleted")
    await connection.start_recognizing_media(
        "dtmf", PhoneNumberIdentifier(AGENT), initial_silence_timeout=10
    )
    await acs.client.wait_for_call(connection_id, lambda c: c.recognizes[-1].status == "listening")
    await connection.cancel_all_media_operations()
    await connection.transfer_call_to_participant(PhoneNumberIdentifier(AGENT))
    await bot.wait_for(connection_id, "CallTransferFailed")
    await sdk.start_recording(call_connection_id=connection_id)
    await bot.wait_for(connection_id, "RecordingStateChanged")
    await connection.stop_media_streaming()
    await bot.wait_for(connection_id, "MediaStreamingStopped")
    await connection.hang_up(is_for_everyone=True)
    await bot.wait_for(connection_id, "CallDisconnected")
    return connection_id


async def test_emitted_events_parse_and_match_recorded_shapes(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    connection_id = await scripted_call(acs, bot, sdk)
    emitted = [c.event for c in bot.events_for(connection_id)]
    names = {e["type"].removeprefix("Microsoft.Communication.") for e in emitted}
    assert names >= {
        "CallConnected",
        "ParticipantsUpdated",
        "MediaStreamingStarted",
        "PlayStarted",
        "PlayCompleted",
        "PlayCanceled",
        "RecognizeFailed",
        "RecognizeCompleted",
        "RecognizeCanceled",
        "CallTransferFailed",
        "RecordingStateChanged",
        "MediaStreamingStopped",
        "CallDisconnected",
    }
    fixtures = recorded()
    for event in emitted:
        name = event["type"].removeprefix("Microsoft.Communication.")
        model = parse(event)
        if hasattr(model, "result_information"):
            assert model.result_information.code == event["data"]["resultInformation"]["code"]
        assert event["data"]["publicEventType"] == event["type"]
        for sample in fixtures.get(name, []):
            assert event.keys() == sample.keys(), name
            # Fields of the recordings we reproduce (eventSource only came with old versions).
            missing = sample["data"].keys() - event["data"].keys() - {"eventSource"}
            assert not missing, (name, missing)
    recognized = next(e for e in emitted if e["type"].endswith("RecognizeCompleted"))
    parsed = parse(recognized)
    assert parsed.recognition_type == "dtmf" and parsed.dtmf_result.tones == ["seven"]
    participants = next(e for e in emitted if e["type"].endswith("ParticipantsUpdated"))
    sample = fixtures["ParticipantsUpdated"][-1]["data"]["participants"][0]
    assert participants["data"]["participants"][0].keys() == sample.keys()


async def test_failed_create_call_events_parse(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    await acs.client.add_phone(AGENT, answer="busy")
    props = await sdk.create_call(
        PhoneNumberIdentifier(AGENT),
        bot.url("/callbacks"),
        source_caller_id_number=PhoneNumberIdentifier(acs.bot_number),
        operation_context="dial-agent",
    )
    assert props.call_connection_id is not None
    await bot.wait_for(props.call_connection_id, "CallDisconnected")
    failed, disconnected = (parse(c.event) for c in bot.events_for(props.call_connection_id))
    assert failed.operation_context == "dial-agent"
    assert failed.result_information.sub_code == disconnected.result_information.sub_code == 560486


@pytest.mark.parametrize("name", sorted(recorded()))
def test_recorded_fixtures_parse_the_same_way(name: str) -> None:
    for event in recorded()[name]:
        parse(event)
