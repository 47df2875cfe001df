"""The REST subset through the real SDK: auth, errors, call lifecycle, repeatability."""

from __future__ import annotations

import asyncio
import time
import uuid
from email.utils import formatdate

import aiohttp
import pytest
from azure.communication.callautomation import PhoneNumberIdentifier
from azure.communication.callautomation.aio import CallAutomationClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import HttpResponseError

from acs_emulator import AcsEmulator, EmulatorError
from acs_emulator.config import new_access_key
from tests.acs_emulator.bot_stub import BotStub
from tests.acs_emulator.helpers import PHONE, body, connected_call, signed_headers


async def test_create_call_rings_then_connects_with_signed_callbacks(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    await acs.client.add_phone(PHONE, answer_delay_ms=30)
    props = await sdk.create_call(
        PhoneNumberIdentifier(PHONE),
        bot.url("/callbacks"),
        source_caller_id_number=PhoneNumberIdentifier(acs.bot_number),
        operation_context="outbound-1",
    )
    assert props.call_connection_state == "connecting"
    assert props.source_caller_id_number is not None
    assert props.source_caller_id_number.raw_id == f"4:{acs.bot_number}"
    connection_id = props.call_connection_id
    assert connection_id is not None
    assert (await acs.client.call(connection_id)).state == "ringing"

    await bot.wait_for(connection_id, "ParticipantsUpdated")
    callbacks = bot.events_for(connection_id)
    assert [c.name for c in callbacks] == ["CallConnected", "ParticipantsUpdated"]
    assert all(c.jwt_ok for c in callbacks), [c.jwt_error for c in callbacks]
    connected = callbacks[0].event
    assert connected["source"] == connected["subject"] == f"calling/callConnections/{connection_id}"
    assert connected["specversion"] == "1.0"
    data = connected["data"]
    assert data["operationContext"] == "outbound-1"
    assert data["version"] == "2026-03-12"
    assert data["publicEventType"] == "Microsoft.Communication.CallConnected"
    assert data["serverCallId"] == props.server_call_id
    raw_ids = {p["identifier"]["rawId"] for p in callbacks[1].event["data"]["participants"]}
    assert f"4:{PHONE}" in raw_ids

    record = await acs.client.wait_for_event(connection_id, "ParticipantsUpdated")
    assert record.delivery is not None and record.delivery.status == 200
    current = await sdk.get_call_connection(connection_id).get_call_properties()
    assert current.call_connection_state == "connected"
    participants = [p async for p in sdk.get_call_connection(connection_id).list_participants()]
    assert len(participants) == 2


async def test_wrong_access_key_is_denied(acs: AcsEmulator, bot: BotStub) -> None:
    async with CallAutomationClient(acs.endpoint, AzureKeyCredential(new_access_key())) as bad:
        with pytest.raises(HttpResponseError) as info:
            await bad.create_call(
                PhoneNumberIdentifier(PHONE),
                bot.url("/callbacks"),
                source_caller_id_number=PhoneNumberIdentifier(acs.bot_number),
            )
    assert info.value.status_code == 401
    assert info.value.error is not None and info.value.error.code == "Denied"
    assert await acs.client.calls() == []


async def test_unknown_connection_is_404(acs: AcsEmulator, sdk: CallAutomationClient) -> None:
    connection = sdk.get_call_connection(str(uuid.uuid4()))
    with pytest.raises(HttpResponseError) as info:
        await connection.get_call_properties()
    assert info.value.status_code == 404
    with pytest.raises(HttpResponseError) as info:
        await connection.hang_up(is_for_everyone=True)
    assert info.value.status_code == 404


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"targets": [], "callbackUri": "http://x/cb"}, "targets"),
        ({"targets": [{"rawId": f"4:{PHONE}"}]}, "callbackUri"),
        ("not json", "Invalid request"),
    ],
)
async def test_malformed_body_is_400(acs: AcsEmulator, payload: object, needle: str) -> None:
    raw = payload.encode() if isinstance(payload, str) else body(payload)
    path = "/calling/callConnections?api-version=2026-03-12"
    headers = signed_headers(acs, "POST", path, raw)
    async with aiohttp.ClientSession() as http:
        async with http.post(acs.endpoint + path, data=raw, headers=headers) as response:
            error = (await response.json())["error"]
    assert response.status == 400
    assert error["code"] == "8523" and needle in error["message"]


async def test_requests_are_checked_like_acs(acs: AcsEmulator) -> None:
    path = "/calling/callConnections/abc"
    good = signed_headers(acs, "GET", path + "?api-version=2026-03-12", b"")
    stale = formatdate(usegmt=True, timeval=time.time() - 3600)
    cases = {
        "missing api-version": (path, signed_headers(acs, "GET", path, b""), 400),
        "stale date": (
            path + "?api-version=2026-03-12",
            signed_headers(acs, "GET", path + "?api-version=2026-03-12", b"", date=stale),
            401,
        ),
        "no auth": (path + "?api-version=2026-03-12", {}, 401),
        "tampered path": (path + "x?api-version=2026-03-12", good, 401),
        "unknown call": (path + "?api-version=2026-03-12", good, 404),
    }
    async with aiohttp.ClientSession() as http:
        for name, (url, headers, status) in cases.items():
            async with http.get(acs.endpoint + url, headers=headers) as response:
                assert response.status == status, name
                assert "error" in await response.json(), name


async def test_bot_hang_up_disconnects(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    connection_id, connection = await connected_call(acs, bot, sdk)
    await connection.hang_up(is_for_everyone=True)
    disconnected = await bot.wait_for(connection_id, "CallDisconnected")
    info = disconnected.event["data"]["resultInformation"]
    assert (info["code"], info["subCode"]) == (200, 7000)
    record = await acs.client.call(connection_id)
    assert record.state == "disconnected" and record.hang_up is not None
    assert record.hang_up.by == "bot"
    with pytest.raises(HttpResponseError) as error:
        await connection.get_call_properties()
    assert error.value.status_code == 404


async def test_hang_up_for_me_also_ends_a_one_to_one_call(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    connection_id, connection = await connected_call(acs, bot, sdk)
    await connection.hang_up(is_for_everyone=False)
    await bot.wait_for(connection_id, "CallDisconnected")
    with pytest.raises(HttpResponseError) as error:
        await connection.play_media_to_all([])
    assert error.value.status_code in (400, 404)


async def test_phone_hang_up_disconnects(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    connection_id, _ = await connected_call(acs, bot, sdk)
    await acs.client.hang_up(connection_id)
    disconnected = await bot.wait_for(connection_id, "CallDisconnected")
    assert disconnected.event["data"]["resultInformation"]["subCode"] == 5010
    assert (await acs.client.call(connection_id)).hang_up.by == "phone"  # type: ignore[union-attr]


@pytest.mark.parametrize(("answer", "code"), [("never", 480), ("busy", 486), ("reject", 603)])
async def test_unanswered_outbound_call_fails(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient, answer: str, code: int
) -> None:
    await acs.client.add_phone(PHONE, answer=answer, ring_timeout_ms=100)  # type: ignore[arg-type]
    props = await sdk.create_call(
        PhoneNumberIdentifier(PHONE),
        bot.url("/callbacks"),
        source_caller_id_number=PhoneNumberIdentifier(acs.bot_number),
    )
    connection_id = props.call_connection_id
    assert connection_id is not None
    await bot.wait_for(connection_id, "CallDisconnected")
    assert bot.names_for(connection_id) == ["CreateCallFailed", "CallDisconnected"]
    assert bot.events_for(connection_id)[1].event["data"]["resultInformation"]["code"] == code
    assert (await acs.client.call(connection_id)).state == "disconnected"


async def test_repeated_request_id_creates_one_call(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    request_id = str(uuid.uuid4())

    async def create() -> str:
        props = await sdk.create_call(
            PhoneNumberIdentifier(PHONE),
            bot.url("/callbacks"),
            source_caller_id_number=PhoneNumberIdentifier(acs.bot_number),
            headers={"Repeatability-Request-ID": request_id},
        )
        assert props.call_connection_id is not None
        return props.call_connection_id

    first = await create()
    concurrent = await asyncio.gather(create(), create())
    assert set(concurrent) == {first}
    await bot.wait_for(first, "ParticipantsUpdated")
    assert len(await acs.client.calls(PHONE)) == 1
    assert bot.names_for(first).count("CallConnected") == 1
    # A new request id is a new call.
    props = await sdk.create_call(
        PhoneNumberIdentifier(PHONE),
        bot.url("/callbacks"),
        source_caller_id_number=PhoneNumberIdentifier(acs.bot_number),
    )
    assert props.call_connection_id != first


async def test_source_number_must_belong_to_the_resource(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    with pytest.raises(HttpResponseError) as info:
        await sdk.create_call(
            PhoneNumberIdentifier(PHONE),
            bot.url("/callbacks"),
            source_caller_id_number=PhoneNumberIdentifier("+19990000000"),
        )
    assert info.value.status_code == 403


async def test_failed_callback_delivery_is_recorded(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    bot.callback_status = 401
    connection_id, _ = await connected_call(acs, bot, sdk)
    event = await acs.client.wait_for_event(connection_id, "CallConnected")
    assert event.delivery is not None and event.delivery.status == 401
    assert not event.delivery.ok


async def test_control_api_refuses_mistakes(acs: AcsEmulator) -> None:
    with pytest.raises(EmulatorError) as typo:
        await acs.client.configure(play_ms_per_chr=1)
    assert typo.value.status == 400
    with pytest.raises(EmulatorError) as unknown:
        await acs.client.press(str(uuid.uuid4()), "1")
    assert unknown.value.status == 404
    with pytest.raises(TimeoutError, match="CallConnected"):
        await acs.client.wait_for_event(PHONE, "CallConnected", timeout=0.1)
