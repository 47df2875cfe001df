"""Add, hold, play to one participant, recognize on them, remove, and the bot leaving: the
warm-transfer requests through the real SDK, in the service's event order."""

from __future__ import annotations

import asyncio

import pytest
from azure.communication.callautomation import (
    PhoneNumberIdentifier,
    RecognizeInputType,
    TextSource,
)
from azure.communication.callautomation.aio import CallAutomationClient, CallConnectionClient
from azure.core.exceptions import HttpResponseError

from acs_emulator import AcsEmulator
from tests.acs_emulator.bot_stub import BotStub
from tests.acs_emulator.helpers import AGENT, PHONE, connected_call
from tests.acs_emulator.test_acs_media_ops import data_of


async def _add_agent(
    acs: AcsEmulator, connection: CallConnectionClient, *, timeout: int | None = None
) -> str | None:
    """Ring the agent in, with the bot's number as the caller id they see."""
    result = await connection.add_participant(
        PhoneNumberIdentifier(AGENT),
        source_caller_id_number=PhoneNumberIdentifier(acs.bot_number),
        invitation_timeout=timeout,
        operation_context="warm",
    )
    invitation: str | None = result.invitation_id
    return invitation


async def test_a_warm_transfer_held_added_briefed_accepted_and_the_bot_leaves(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    await acs.client.add_phone(AGENT, answer_delay_ms=20, keys="1")
    connection_id, connection = await connected_call(acs, bot, sdk)
    await connection.hold(PhoneNumberIdentifier(PHONE), operation_context="warm")
    invitation = await _add_agent(acs, connection)
    assert invitation
    await bot.wait_for(connection_id, "AddParticipantSucceeded")
    added = data_of(bot, connection_id, "AddParticipantSucceeded")
    assert added["participant"]["rawId"] == f"4:{AGENT}" and added["operationContext"] == "warm"
    participants = [p async for p in connection.list_participants()]
    held = {p.identifier.raw_id: p.is_on_hold for p in participants if p.identifier}
    assert held[f"4:{PHONE}"] is True and held[f"4:{AGENT}"] is False

    agent = PhoneNumberIdentifier(AGENT)
    await connection.play_media(TextSource(text="Briefing: Jane, Lyon."), [agent])
    await connection.start_recognizing_media(
        RecognizeInputType.DTMF,
        agent,
        play_prompt=TextSource(text="Press 1 to accept."),
        dtmf_max_tones_to_collect=1,
        operation_context="answer",
    )
    await bot.wait_for(connection_id, "RecognizeCompleted")
    assert data_of(bot, connection_id, "RecognizeCompleted")["dtmfResult"]["tones"] == ["one"]
    await connection.unhold(PhoneNumberIdentifier(PHONE))
    await connection.hang_up(is_for_everyone=False)
    await bot.wait_for(connection_id, "CallDisconnected")

    record = await acs.client.call(connection_id)
    assert record.plays[0].play_to == [f"4:{AGENT}"]
    assert record.recognizes[0].target == f"4:{AGENT}"
    assert record.added[0].heard == ["Briefing: Jane, Lyon.", "Press 1 to accept."]
    assert record.added[0].dtmf_pressed == ["1"] and record.dtmf_pressed == []
    assert [h.action for h in record.holds] == ["hold", "unhold"]
    assert record.continued_between == [f"4:{PHONE}", f"4:{AGENT}"]
    assert record.hang_up is not None and record.hang_up.by == "bot"


async def test_a_declining_agent_is_removed(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    await acs.client.add_phone(AGENT, answer_delay_ms=20, keys="2")
    connection_id, connection = await connected_call(acs, bot, sdk)
    await _add_agent(acs, connection)
    await bot.wait_for(connection_id, "AddParticipantSucceeded")
    agent = PhoneNumberIdentifier(AGENT)
    await connection.start_recognizing_media(
        RecognizeInputType.DTMF, agent, dtmf_max_tones_to_collect=1
    )
    await bot.wait_for(connection_id, "RecognizeCompleted")
    assert data_of(bot, connection_id, "RecognizeCompleted")["dtmfResult"]["tones"] == ["two"]
    await connection.remove_participant(agent, operation_context="release")
    await bot.wait_for(connection_id, "RemoveParticipantSucceeded")
    removed = data_of(bot, connection_id, "RemoveParticipantSucceeded")
    assert removed["participant"]["rawId"] == f"4:{AGENT}"
    record = await acs.client.call(connection_id)
    assert record.state == "connected" and record.added[0].state == "removed"
    assert len([p async for p in connection.list_participants()]) == 2
    with pytest.raises(HttpResponseError) as error:  # gone: a second removal is a 404
        await connection.remove_participant(agent)
    assert error.value.status_code == 404


@pytest.mark.parametrize(("answer", "code"), [("never", 480), ("busy", 486)])
async def test_an_agent_who_does_not_pick_up_fails_the_add(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient, answer: str, code: int
) -> None:
    await acs.client.add_phone(AGENT, answer=answer, answer_delay_ms=20)  # type: ignore[arg-type]
    connection_id, connection = await connected_call(acs, bot, sdk)
    await _add_agent(acs, connection, timeout=2)  # x0.1 time scale: 0.2 s of ringing
    await bot.wait_for(connection_id, "AddParticipantFailed")
    failed = data_of(bot, connection_id, "AddParticipantFailed")
    assert failed["resultInformation"]["code"] == code
    assert failed["participant"]["rawId"] == f"4:{AGENT}"
    record = await acs.client.call(connection_id)
    assert record.added[0].state == "failed" and record.state == "connected"


async def test_a_ringing_invitation_can_be_withdrawn(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    await acs.client.add_phone(AGENT, answer="never")
    connection_id, connection = await connected_call(acs, bot, sdk)
    invitation = await _add_agent(acs, connection)
    assert invitation is not None
    await connection.cancel_add_participant_operation(invitation, operation_context="withdraw")
    await bot.wait_for(connection_id, "CancelAddParticipantSucceeded")
    data = data_of(bot, connection_id, "CancelAddParticipantSucceeded")
    assert data["invitationId"] == invitation
    assert (await acs.client.call(connection_id)).added[0].state == "canceled"


async def test_an_agent_hanging_up_fails_what_was_aimed_at_them(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    await acs.client.add_phone(AGENT, answer_delay_ms=20)
    connection_id, connection = await connected_call(acs, bot, sdk)
    await _add_agent(acs, connection)
    await bot.wait_for(connection_id, "AddParticipantSucceeded")
    await connection.start_recognizing_media(
        RecognizeInputType.DTMF, PhoneNumberIdentifier(AGENT), initial_silence_timeout=30
    )
    await acs.client.wait_for_call(
        connection_id, lambda c: bool(c.recognizes) and c.recognizes[0].status == "listening"
    )
    await acs.client.press(connection_id, "1")  # the caller's keys are not the agent's
    await asyncio.sleep(0.05)
    await acs.client.hang_up_as(connection_id, AGENT)
    await bot.wait_for(connection_id, "RecognizeFailed")
    record = await acs.client.call(connection_id)
    assert record.added[0].state == "left" and record.state == "connected"
    assert record.recognizes[0].status == "failed"
    assert record.event_types().count("ParticipantsUpdated") == 3  # connect, join, leave
    with pytest.raises(HttpResponseError) as error:  # no playing to someone who left
        await connection.play_media(TextSource(text="Hello?"), [PhoneNumberIdentifier(AGENT)])
    assert error.value.status_code == 400


async def test_the_phone_hanging_up_with_the_agent_on_keeps_the_call(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    await acs.client.add_phone(AGENT, answer_delay_ms=20)
    connection_id, connection = await connected_call(acs, bot, sdk)
    await _add_agent(acs, connection)
    await bot.wait_for(connection_id, "AddParticipantSucceeded")
    await acs.client.hang_up(connection_id)  # a group call: the bot and the agent stay
    await acs.client.wait_for_event(connection_id, "ParticipantsUpdated", count=3)
    update = [
        c.event["data"] for c in bot.events_for(connection_id) if c.name == "ParticipantsUpdated"
    ]
    assert f"4:{PHONE}" not in {p["identifier"]["rawId"] for p in update[-1]["participants"]}
    record = await acs.client.call(connection_id)
    assert record.state == "connected" and record.phone_left_at is not None
    await connection.hang_up(is_for_everyone=True)
    record = await acs.client.wait_for_state(connection_id, "disconnected")
    assert record.added[0].state == "left" and record.continued_between == []
