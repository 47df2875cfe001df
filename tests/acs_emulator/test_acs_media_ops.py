"""Play, recognize, transfer and recording, in the service's event order."""

from __future__ import annotations

from typing import Any

import pytest
from azure.communication.callautomation import (
    DtmfTone,
    PhoneNumberIdentifier,
    RecognitionChoice,
    RecognizeInputType,
    SsmlSource,
    TextSource,
)
from azure.communication.callautomation.aio import CallAutomationClient, CallConnectionClient
from azure.core.exceptions import HttpResponseError

from acs_emulator import AcsEmulator, CallRecord
from tests.acs_emulator.bot_stub import BotStub
from tests.acs_emulator.helpers import AGENT, PHONE, connected_call

CHOICES = [
    RecognitionChoice(label="yes", phrases=["yes", "yeah"], tone=DtmfTone.ONE),
    RecognitionChoice(label="no", phrases=["no", "nope"], tone=DtmfTone.TWO),
]


def listening(call: CallRecord) -> bool:
    return bool(call.recognizes) and call.recognizes[-1].status == "listening"


def data_of(bot: BotStub, connection_id: str, name: str) -> dict[str, Any]:
    return next(c.event["data"] for c in bot.events_for(connection_id) if c.name == name)


async def test_play_text_then_completed_with_context(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    connection_id, connection = await connected_call(acs, bot, sdk)
    source = TextSource(text="Hello, this is your insurer.", voice_name="en-US-JennyNeural")
    await connection.play_media(source, operation_context="greeting")
    await bot.wait_for(connection_id, "PlayCompleted")
    names = bot.names_for(connection_id)
    assert names[-2:] == ["PlayStarted", "PlayCompleted"]
    for name in ("PlayStarted", "PlayCompleted"):
        data = data_of(bot, connection_id, name)
        assert data["operationContext"] == "greeting"
        assert data["resultInformation"]["code"] == 200
    play = (await acs.client.call(connection_id)).plays[0]
    assert play.status == "completed" and play.sources[0].text == source.text
    assert play.sources[0].voice == "en-US-JennyNeural"


async def test_ssml_plays_and_queue_runs_in_order(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    connection_id, connection = await connected_call(acs, bot, sdk)
    await connection.play_media(SsmlSource(ssml_text="<speak>One</speak>"), operation_context="1")
    await connection.play_media(TextSource(text="Two"), operation_context="2")
    await acs.client.wait_for_event(connection_id, "PlayCompleted", count=2)
    played = [
        (c.name, c.event["data"]["operationContext"])
        for c in bot.events_for(connection_id)
        if c.name.startswith("Play")
    ]
    assert played == [
        ("PlayStarted", "1"),
        ("PlayCompleted", "1"),
        ("PlayStarted", "2"),
        ("PlayCompleted", "2"),
    ]


async def test_interrupting_play_cancels_the_running_one(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    connection_id, connection = await connected_call(acs, bot, sdk)
    await connection.play_media(TextSource(text="hold music"), loop=True, operation_context="loop")
    await bot.wait_for(connection_id, "PlayStarted")
    await connection.play_media_to_all(
        TextSource(text="Sorry to interrupt"),
        interrupt_call_media_operation=True,
        operation_context="barge",
    )
    await bot.wait_for(connection_id, "PlayCompleted")
    played = [
        (c.name, c.event["data"].get("operationContext"))
        for c in bot.events_for(connection_id)
        if c.name.startswith("Play")
    ]
    assert played == [
        ("PlayStarted", "loop"),
        ("PlayCanceled", "loop"),
        ("PlayStarted", "barge"),
        ("PlayCompleted", "barge"),
    ]
    assert data_of(bot, connection_id, "PlayCanceled")["resultInformation"]["subCode"] == 8508


async def test_cancel_all_media_operations(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    connection_id, connection = await connected_call(acs, bot, sdk)
    await connection.play_media(TextSource(text="x" * 500), operation_context="long")
    await bot.wait_for(connection_id, "PlayStarted")
    await connection.cancel_all_media_operations()
    await bot.wait_for(connection_id, "PlayCanceled")
    assert (await acs.client.call(connection_id)).plays[0].status == "canceled"


async def start_choices(connection: CallConnectionClient, *, interrupt: bool = False) -> None:
    await connection.start_recognizing_media(
        RecognizeInputType.CHOICES,
        PhoneNumberIdentifier(PHONE),
        choices=CHOICES,
        play_prompt=TextSource(text="Say yes or no, or press 1 or 2."),
        interrupt_prompt=interrupt,
        initial_silence_timeout=10,
        operation_context="confirm",
    )


async def test_recognize_choice_by_dtmf(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    connection_id, connection = await connected_call(acs, bot, sdk)
    await acs.client.press(connection_id, "9")  # nothing listens yet: dropped, as on a real call
    await start_choices(connection)
    await acs.client.wait_for_call(connection_id, listening)
    await acs.client.press(connection_id, "2")
    data = (await bot.wait_for(connection_id, "RecognizeCompleted")).event["data"]
    assert data["recognitionType"] == "choices"
    assert data["choiceResult"]["label"] == "no"
    assert data["operationContext"] == "confirm"
    assert data["resultInformation"]["subCode"] == 8533
    record = await acs.client.call(connection_id)
    assert record.dtmf_ignored == ["9"] and record.recognizes[0].status == "completed"


async def test_recognize_choice_by_speech(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    connection_id, connection = await connected_call(acs, bot, sdk)
    await start_choices(connection)
    await acs.client.wait_for_call(connection_id, listening)
    await acs.client.say(connection_id, "Yeah, sure!", confidence=0.87)
    data = (await bot.wait_for(connection_id, "RecognizeCompleted")).event["data"]
    assert data["choiceResult"] == {
        "label": "yes",
        "recognizedPhrase": "Yeah, sure!",
        "confidence": 0.87,
    }
    assert data["resultInformation"]["subCode"] == 8545


async def test_recognize_speech_without_match_fails(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    connection_id, connection = await connected_call(acs, bot, sdk)
    await start_choices(connection)
    await acs.client.wait_for_call(connection_id, listening)
    await acs.client.say(connection_id, "maybe later")
    data = (await bot.wait_for(connection_id, "RecognizeFailed")).event["data"]
    assert data["resultInformation"]["subCode"] == 8547


async def test_dtmf_interrupts_an_interruptible_prompt(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    await acs.client.configure(play_ms_per_char=100)  # a prompt of several seconds
    connection_id, connection = await connected_call(acs, bot, sdk)
    await start_choices(connection, interrupt=True)
    await acs.client.wait_for_call(connection_id, lambda c: bool(c.recognizes))
    await acs.client.press(connection_id, "1")
    data = (await bot.wait_for(connection_id, "RecognizeCompleted", within_s=2)).event["data"]
    assert data["choiceResult"]["label"] == "yes"


async def test_recognize_times_out(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    connection_id, connection = await connected_call(acs, bot, sdk)
    await connection.start_recognizing_media(
        RecognizeInputType.DTMF,
        PhoneNumberIdentifier(PHONE),
        initial_silence_timeout=2,  # x time_scale 0.1
        dtmf_max_tones_to_collect=4,
        operation_context="pin",
    )
    data = (await bot.wait_for(connection_id, "RecognizeFailed")).event["data"]
    assert data["resultInformation"] == {
        "code": 400,
        "subCode": 8510,
        "message": "Action failed, initial silence timeout reached.",
    }
    assert data["operationContext"] == "pin"


@pytest.mark.parametrize(
    ("pressed", "tones", "sub_code"),
    [("123", ["one", "two", "three"], 8531), ("4#", ["four"], 8514)],
)
async def test_recognize_dtmf(
    acs: AcsEmulator,
    bot: BotStub,
    sdk: CallAutomationClient,
    pressed: str,
    tones: list[str],
    sub_code: int,
) -> None:
    connection_id, connection = await connected_call(acs, bot, sdk)
    await connection.start_recognizing_media(
        RecognizeInputType.DTMF,
        PhoneNumberIdentifier(PHONE),
        dtmf_max_tones_to_collect=3,
        dtmf_stop_tones=[DtmfTone.POUND],
        initial_silence_timeout=10,
    )
    await acs.client.wait_for_call(connection_id, listening)
    await acs.client.press(connection_id, pressed)
    data = (await bot.wait_for(connection_id, "RecognizeCompleted")).event["data"]
    assert data["recognitionType"] == "dtmf"
    assert data["dtmfResult"]["tones"] == tones
    assert data["resultInformation"]["subCode"] == sub_code


async def test_recognize_speech(acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient) -> None:
    connection_id, connection = await connected_call(acs, bot, sdk)
    await connection.start_recognizing_media(
        RecognizeInputType.SPEECH,
        PhoneNumberIdentifier(PHONE),
        end_silence_timeout=1,
        initial_silence_timeout=10,
    )
    await acs.client.wait_for_call(connection_id, listening)
    await acs.client.press(connection_id, "5")  # a speech recognize does not take DTMF
    await acs.client.say(connection_id, "I want to file a claim")
    data = (await bot.wait_for(connection_id, "RecognizeCompleted")).event["data"]
    assert data["speechResult"]["speech"] == "I want to file a claim"


async def test_recognize_choices_requires_choices(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    _, connection = await connected_call(acs, bot, sdk)
    with pytest.raises(HttpResponseError) as info:
        await connection.start_recognizing_media(
            RecognizeInputType.CHOICES, PhoneNumberIdentifier(PHONE)
        )
    assert info.value.status_code == 400


async def test_transfer_accepted_ends_the_bot_leg(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    await acs.client.add_phone(AGENT, answer_delay_ms=20)
    connection_id, connection = await connected_call(acs, bot, sdk)
    result = await connection.transfer_call_to_participant(
        PhoneNumberIdentifier(AGENT), operation_context="to-agent"
    )
    assert result.operation_context == "to-agent"
    await bot.wait_for(connection_id, "CallDisconnected")
    assert bot.names_for(connection_id)[-2:] == ["CallTransferAccepted", "CallDisconnected"]
    accepted = data_of(bot, connection_id, "CallTransferAccepted")
    assert accepted["transferTarget"]["rawId"] == f"4:{AGENT}"
    assert accepted["operationContext"] == "to-agent"
    assert data_of(bot, connection_id, "CallDisconnected")["resultInformation"]["subCode"] == 7015
    record = await acs.client.call(connection_id)
    assert record.state == "transferred" and record.transfers[0].outcome == "accepted"


@pytest.mark.parametrize(("answer", "code"), [("busy", 486), ("never", 480), ("reject", 603)])
async def test_transfer_failed_keeps_the_call(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient, answer: str, code: int
) -> None:
    await acs.client.add_phone(AGENT, answer=answer, ring_timeout_ms=50)  # type: ignore[arg-type]
    connection_id, connection = await connected_call(acs, bot, sdk)
    await connection.transfer_call_to_participant(PhoneNumberIdentifier(AGENT))
    failed = await bot.wait_for(connection_id, "CallTransferFailed")
    assert failed.event["data"]["resultInformation"]["code"] == code
    record = await acs.client.call(connection_id)
    assert record.state == "connected" and record.transfers[0].outcome == "failed"
    await connection.play_media(TextSource(text="Let me try something else"))
    await bot.wait_for(connection_id, "PlayCompleted")


async def test_recording_state_changes(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    connection_id, _ = await connected_call(acs, bot, sdk)
    recording = await sdk.start_recording(call_connection_id=connection_id)
    assert recording.recording_id
    active = await bot.wait_for(connection_id, "RecordingStateChanged")
    assert active.event["data"]["state"] == "active"
    assert active.event["source"].startswith("calling/recordings/")
    assert (await sdk.get_recording_properties(recording.recording_id)).recording_state == "active"
    await sdk.stop_recording(recording.recording_id)
    await acs.client.wait_for_event(connection_id, "RecordingStateChanged", count=2)
    assert (await acs.client.call(connection_id)).recordings[0].state == "stopped"
