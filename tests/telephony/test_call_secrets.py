"""A call's callback secret and media token: derived where needed, in no workflow payload.

The phone stack is the real one (`tests.telephony.test_phone_calls`): the API, a worker, the
media gateway, the ACS emulator placing the call and posting its callbacks, Temporal and Redis.
A call started before derivation (random secrets in its input and state) keeps working.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from core import call_secrets
from core.codec import ENCODING
from core.settings import DEV_CALL_SECRET_KEY, Settings, TelephonySettings
from domain.call import CallInitiate
from domain.contracts import CallInput
from media_gateway.app import SESSIONS
from tests.support.codec import codec_converter
from tests.telephony.test_phone_calls import CUSTOMER, ONE_LANGUAGE, Phone, say
from tests.telephony.test_phone_calls import phone as phone  # noqa: F401 - the stack fixture
from workflows.call import CallWorkflow
from workflows.reminder import ReminderWorkflow
from workflows.sandbox import WORKFLOW_RUNNER

HISTORIES = Path(__file__).resolve().parents[1] / "workflows" / "histories"
KEY = SecretStr("a-test-call-secret-key-0123456789abcdef")


# --- derivation ---------------------------------------------------------------------------


def test_each_call_and_purpose_has_its_own_secret_and_only_the_key_makes_it() -> None:
    a, b = "call-a", "call-b"
    assert call_secrets.callback_secret(KEY, a) == call_secrets.callback_secret(KEY, a)
    made = {
        call_secrets.callback_secret(KEY, a),
        call_secrets.callback_secret(KEY, b),
        call_secrets.media_token(KEY, a),
        call_secrets.media_token(KEY, b),
        call_secrets.callback_secret(SecretStr("another-key-0123456789abcdef-0123"), a),
    }
    assert len(made) == 5
    assert all(len(s) == 43 and s.replace("-", "").replace("_", "").isalnum() for s in made)
    derived = call_secrets.media_token(KEY, a)
    assert call_secrets.matches(derived, derived)
    assert call_secrets.matches("legacy-random", derived, "legacy-random")
    assert not call_secrets.matches("legacy-random", derived)
    assert not call_secrets.matches(derived[:-1] + "x", derived, "legacy-random")
    assert not call_secrets.matches("", derived, None)


def test_the_key_is_long_and_production_sets_its_own() -> None:
    with pytest.raises(ValidationError, match="call_secret_key is shorter than 32 bytes"):
        TelephonySettings(call_secret_key=SecretStr("short"))
    assert TelephonySettings().call_secret_key.get_secret_value() == DEV_CALL_SECRET_KEY
    with pytest.raises(ValidationError, match="its own telephony.call_secret_key"):
        Settings(environment="prod", temporal={"codec": _own_codec()})
    own = Settings(
        environment="prod",
        temporal={"codec": _own_codec()},
        telephony={"call_secret_key": KEY.get_secret_value()},
    )
    assert own.telephony.call_secret_key == KEY


def _own_codec() -> dict[str, Any]:
    return {
        "keys": {"k1": "a-production-payload-key-0123456789abcdef"},
        "current_key": "k1",
        "phone_hash_key": "a-production-phone-hash-key-0123456789abcdef",
    }


# --- histories ----------------------------------------------------------------------------


async def decoded_payloads(history: WorkflowHistory) -> list[bytes]:
    """Every payload of the history, decrypted with the test key (none may stay encrypted)."""
    found: list[Payload] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "data" in node and "metadata" in node:
                found.append(
                    Payload(
                        metadata={k: base64.b64decode(v) for k, v in node["metadata"].items()},
                        data=base64.b64decode(node.get("data", "")),
                    )
                )
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(history.to_json()))
    codec = codec_converter().payload_codec
    assert codec is not None
    decoded = await codec.decode(found)
    assert all(p.metadata.get("encoding") != ENCODING for p in decoded)
    return [p.data for p in decoded]


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))


def started_input(path: Path) -> dict[str, Any]:
    history = load(path)
    start = history.events[0].workflow_execution_started_event_attributes
    payloads = list(start.input.payloads)
    codec = codec_converter().payload_codec
    assert codec is not None
    (payload,) = asyncio.run(codec.decode(payloads)) if payloads else [Payload(data=b"{}")]
    data: dict[str, Any] = json.loads(payload.data)
    return data


LEGACY = [
    p
    for p in sorted(HISTORIES.glob("*.json"))
    if "callback_secret" in started_input(p) and started_input(p)["callback_secret"]
]


def test_histories_recorded_with_the_secrets_in_the_input_are_checked_in() -> None:
    assert len(LEGACY) >= 3  # the old payloads the models must still read


@pytest.mark.parametrize("path", LEGACY, ids=[p.stem for p in LEGACY])
async def test_a_history_with_the_old_fields_still_replays(path: Path) -> None:
    history = load(path)
    replayer = Replayer(
        workflows=[CallWorkflow, ReminderWorkflow],
        data_converter=codec_converter(),
        workflow_runner=WORKFLOW_RUNNER,
    )
    await replayer.replay_workflow(history)


# --- a whole phone call -------------------------------------------------------------------


async def callback_status(phone: Phone, call_id: str, secret: str) -> int:
    """The API's answer to an unsigned callback: 403 when the secret is refused, 401 when it
    passed and the missing ACS token is what fails (the secret is checked first)."""
    response = await phone.api.post(f"/communicationservices/callback/{call_id}/{secret}", json=[])
    return response.status_code


async def media_accepted(phone: Phone, call_id: str, token: str) -> bool:
    """Open a media stream as ACS would: True when the gateway took it, False when it closed."""
    before = len(phone.gateway[SESSIONS].get(call_id, []))
    url = f"ws://127.0.0.1:{phone.gateway_port}/media/{call_id}/{token}"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as socket:
        await socket.send_str(
            json.dumps({"kind": "AudioMetadata", "audioMetadata": {"sampleRate": 16000}})
        )
        for _ in range(200):
            if len(phone.gateway[SESSIONS].get(call_id, [])) > before:
                return True
            if socket.closed or socket.close_code is not None:
                return False
            try:
                message = await socket.receive(timeout=0.05)
            except TimeoutError:
                continue
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                return False
    raise AssertionError("the gateway neither took nor refused the stream")


async def test_a_phone_call_works_with_derived_secrets_that_no_payload_holds(
    phone: Phone,
) -> None:
    call_id = await phone.call(lang=ONE_LANGUAGE)
    connection_id = await phone.connection(call_id)
    record = await phone.phones.wait_for_call(
        connection_id, lambda c: c.media.connected and c.media.frames_sent > 5
    )
    key = phone.settings.telephony.call_secret_key
    secret = call_secrets.callback_secret(key, call_id)
    token = call_secrets.media_token(key, call_id)
    # ACS was given the derived URLs, delivered its callbacks there, and the gateway took the
    # stream with the derived token.
    assert record.callback_uri is not None and record.callback_uri.endswith(f"/{call_id}/{secret}")
    delivered = [e.delivery for e in record.events if e.delivery is not None]  # not in flight
    assert delivered and all(d.ok for d in delivered)
    (session,) = phone.gateway[SESSIONS][call_id]
    assert session.view is not None or session.frames > 0
    # Forged callbacks: refused before the ACS token is even looked at.
    other = str(uuid.uuid4())
    assert await callback_status(phone, call_id, secret) == 401  # the secret passed
    for forged in (
        "not-the-secret",
        token,  # the media token is not the callback secret
        call_secrets.callback_secret(key, other),
        call_secrets.callback_secret(SecretStr("guessed-key-" * 4), call_id),
    ):
        assert await callback_status(phone, call_id, forged) == 403
    assert not await media_accepted(phone, call_id, secret)
    assert not await media_accepted(phone, call_id, call_secrets.media_token(key, other))
    # A turn (an `llm_turn` activity with the call's state in its input), then the goodbye.
    phone.llm.state.add(say("Sure, tell me more."), user=call_id)
    reply = await phone.api.post(f"/call/{call_id}/messages", json={"text": "I had an accident"})
    assert reply.status_code == 200, reply.text
    phone.llm.state.add(say("Goodbye!", "end_call"), user=call_id)
    reply = await phone.api.post(f"/call/{call_id}/messages", json={"text": "bye"})
    assert reply.json()["ended"] is True
    await phone.phones.wait_for_state(connection_id, "disconnected")
    await phone.wait_status(call_id, "ended")

    history = await phone.client.get_workflow_handle(f"call-{call_id}").fetch_history()
    kinds = {e.WhichOneof("attributes") for e in history.events}
    assert "activity_task_scheduled_event_attributes" in kinds
    payloads = await decoded_payloads(history)
    text = b"\n".join(payloads).decode()
    assert "I had an accident" in text  # the decoded payloads are the real ones
    assert '"llm_turn"' in text or "Sure, tell me more." in text
    assert secret not in text and token not in text
    compact = text.replace(" ", "")
    for name in ("callback_secret", "media_token"):
        # The call's input and state were read (the fields are there), and empty everywhere.
        assert f'"{name}":null' in compact, name
        assert f'"{name}":"' not in compact, name
    # And that history replays on the current code.
    await Replayer(
        workflows=[CallWorkflow, ReminderWorkflow],
        data_converter=codec_converter(),
        workflow_runner=WORKFLOW_RUNNER,
    ).replay_workflow(history)


async def test_a_call_started_with_random_secrets_keeps_them_and_accepts_the_derived_ones(
    phone: Phone,
) -> None:
    # As a call in progress at deploy time: started with the secrets in its input.
    call_id = str(uuid.uuid4())
    legacy_secret, legacy_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    initiate = CallInitiate.model_validate(
        {**phone.settings.conversation.model_dump(), "phone_number": CUSTOMER, "lang": ONE_LANGUAGE}
    )
    await phone.client.start_workflow(
        CallWorkflow.run,
        CallInput(
            call_id=call_id,
            initiate=initiate,
            channel="phone",
            callback_secret=legacy_secret,
            media_token=legacy_token,
        ),
        id=f"call-{call_id}",
        task_queue=phone.settings.temporal.task_queue,
    )
    connection_id = await phone.connection(call_id)
    await phone.phones.wait_for_call(connection_id, lambda c: c.media.connected)
    key = phone.settings.telephony.call_secret_key
    # Its own secrets still open the door; so do the derived ones (a reconnection after the
    # deploy gets derived URLs); nothing else does.
    assert await callback_status(phone, call_id, legacy_secret) == 401
    assert await callback_status(phone, call_id, call_secrets.callback_secret(key, call_id)) == 401
    assert await callback_status(phone, call_id, legacy_token) == 403
    assert await media_accepted(phone, call_id, legacy_token)
    assert not await media_accepted(phone, call_id, legacy_secret)
    # The public view and the LLM never see them.
    state = await phone.state(call_id)
    assert state["callback_secret"] is None and state["media_token"] is None
    phone.llm.state.add(say("Noted."), user=call_id)
    reply = await phone.api.post(f"/call/{call_id}/messages", json={"text": "hello"})
    assert reply.status_code == 200, reply.text
    history = await phone.client.get_workflow_handle(f"call-{call_id}").fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    llm = [a for a in scheduled if a.activity_type.name == "llm_turn"]
    assert llm
    codec = codec_converter().payload_codec
    assert codec is not None
    for attributes in llm:
        (payload,) = await codec.decode(list(attributes.input.payloads))
        call = json.loads(payload.data)["call"]
        assert call["call_id"] == call_id
        assert call["callback_secret"] is None and call["media_token"] is None
