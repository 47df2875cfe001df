"""ACS callbacks and Event Grid through the real API, store, Redis and workflow.

The callbacks here are signed by a key this test controls (served as a JWKS), so it can also
forge the bad ones: expired, wrong audience, wrong key. Nothing rejected may reach a workflow.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType

from api.deps import Services
from api.main import create_app
from core import call_secrets
from core.settings import Settings
from domain.call import CallInitiate
from domain.contracts import CallInput
from providers.telephony.connections import ConnectionRegistry
from tests.conftest import Stack
from tests.telephony.test_acs_auth import AUDIENCE, ISSUER, STRANGER, FakeJwks, _token
from tests.telephony.test_acs_auth import issuer as issuer  # noqa: F401 - the JWKS fixture
from workflows.call import CallWorkflow

# Recorded from the real service by the Azure SDK for Python live tests (MIT), vendored.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "acs-events"


@pytest.fixture
async def phone_api(
    stack: Stack, issuer: FakeJwks
) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    data = stack.settings.model_dump()
    data["telephony"] = {
        "kind": "acs",
        "call_secret_key": stack.settings.telephony.call_secret_key,
        "acs": {
            "endpoint": "http://127.0.0.1:9",
            "access_key": "a2V5",
            "phone_number": "+14255550100",
            "resource_id": AUDIENCE,
            "jwks_url": issuer.url,
            "issuer": ISSUER,
            "callback_leeway_sec": 60,
            "event_grid_secret": "eg-secret",
        },
    }
    settings = Settings.model_validate(data)
    app = create_app(settings, Services(settings, stack.client, stack.store, stack.redis))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as c:
        yield c, settings


async def open_call(stack: Stack, connection_id: str, *, legacy: bool = False) -> tuple[str, str]:
    """A running call linked to `connection_id`, and its callback secret: derived from its id,
    or (`legacy`) a random one in its input, as calls started before derivation hold."""
    call_id = str(uuid.uuid4())
    if legacy:
        secret = secrets.token_urlsafe(24)
    else:
        secret = call_secrets.callback_secret(stack.settings.telephony.call_secret_key, call_id)
    await stack.client.start_workflow(
        CallWorkflow.run,
        CallInput(
            call_id=call_id,
            initiate=CallInitiate(
                phone_number="+33612345678",
                bot_company="Contoso",
                bot_name="Amélie",
                agent_phone_number="+33612345679",
            ),
            callback_secret=secret if legacy else None,
        ),
        id=f"call-{call_id}",
        task_queue=stack.settings.temporal.task_queue,
    )
    for _ in range(100):  # the workflow saves itself (with its secret) on start
        if await stack.store.get(call_id):
            break
        await asyncio.sleep(0.05)
    await ConnectionRegistry(stack.redis).link(connection_id, call_id)
    return call_id, secret


def cloud_event(kind: str, connection_id: str, **data: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "source": f"calling/callConnections/{connection_id}",
        "subject": f"calling/callConnections/{connection_id}",
        "type": f"Microsoft.Communication.{kind}",
        "time": "2026-11-25T10:00:00Z",
        "specversion": "1.0",
        "datacontenttype": "application/json",
        "data": {
            "version": "2025-05-15",
            "callConnectionId": connection_id,
            "serverCallId": "server-call",
            "correlationId": "corr",
            "publicEventType": f"Microsoft.Communication.{kind}",
            **data,
        },
    }


async def signals(stack: Stack, call_id: str) -> int:
    handle = stack.client.get_workflow_handle(f"call-{call_id}")
    events = [event async for event in handle.fetch_history_events()]
    return sum(
        1 for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("legacy", [False, True], ids=["derived secret", "legacy secret"])
async def test_verified_events_reach_the_workflow(
    stack: Stack, phone_api: tuple[httpx.AsyncClient, Settings], legacy: bool
) -> None:
    api, _ = phone_api
    call_id, secret = await open_call(stack, "conn-ok", legacy=legacy)
    events = [
        cloud_event("ParticipantsUpdated", "conn-ok", participants=[]),  # acknowledged only
        cloud_event("PlayCompleted", "conn-ok", operationContext="nothing-pending"),
        cloud_event("SomethingNew", "conn-ok"),  # unknown type: logged and acknowledged
    ]
    response = await api.post(
        f"/communicationservices/callback/{call_id}/{secret}", json=events, headers=bearer(_token())
    )
    assert response.status_code == 204, response.text
    assert await signals(stack, call_id) == 1


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("wrong secret", 403),
        ("another call's secret", 403),
        ("legacy secret of another call", 403),
        ("unknown call", 403),
        ("no token", 401),
        ("garbage token", 401),
        ("expired token", 401),
        ("wrong audience", 401),
        ("wrong issuer", 401),
        ("other key", 401),
        ("other call's connection", 403),
        ("malformed body", 400),
    ],
)
async def test_rejected_callbacks_reach_no_workflow(
    stack: Stack, phone_api: tuple[httpx.AsyncClient, Settings], case: str, status: int
) -> None:
    api, _ = phone_api
    call_id, secret = await open_call(stack, "conn-mine")
    await ConnectionRegistry(stack.redis).link("conn-theirs", "some-other-call")
    path = f"/communicationservices/callback/{call_id}/{secret}"
    body: Any = [cloud_event("CallDisconnected", "conn-mine")]
    headers = bearer(_token())
    match case:
        case "wrong secret":
            path = f"/communicationservices/callback/{call_id}/{secret[:-2]}xx"
        case "another call's secret":
            _, theirs = await open_call(stack, "conn-other")
            path = f"/communicationservices/callback/{call_id}/{theirs}"
        case "legacy secret of another call":
            _, theirs = await open_call(stack, "conn-other", legacy=True)
            path = f"/communicationservices/callback/{call_id}/{theirs}"
        case "unknown call":
            path = f"/communicationservices/callback/{uuid.uuid4()}/{secret}"
        case "no token":
            headers = {}
        case "garbage token":
            headers = bearer("not.a.jwt")
        case "expired token":
            headers = bearer(_token(exp=int(__import__("time").time()) - 600))
        case "wrong audience":
            headers = bearer(_token(aud="another-acs-resource"))
        case "wrong issuer":
            headers = bearer(_token(iss="https://evil.example.com"))
        case "other key":
            headers = bearer(_token(key=STRANGER))
        case "other call's connection":
            body = [cloud_event("CallDisconnected", "conn-theirs")]
        case "malformed body":
            body = {"not": "a list"}
    response = await api.post(path, content=json.dumps(body), headers=headers)
    assert response.status_code == status, response.text
    assert "error" in response.json()
    assert await signals(stack, call_id) == 0
    state = await stack.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}").query(
        CallWorkflow.get_state
    )
    assert state.status == "in_progress"  # the CallDisconnected never arrived


def recorded_events() -> list[tuple[str, str, dict[str, Any]]]:
    cases = []
    for path in sorted(FIXTURES.glob("*.json")):
        for kind, recorded in json.loads(path.read_text()).items():
            if kind == "IncomingCall":
                continue  # an Event Grid event, not a callback
            for i, data in enumerate(recorded if isinstance(recorded, list) else [recorded]):
                cases.append((f"{path.stem}:{kind}:{i}", kind, data))
    return cases


async def test_every_recorded_event_is_accepted(
    stack: Stack, phone_api: tuple[httpx.AsyncClient, Settings]
) -> None:
    api, _ = phone_api
    cases = recorded_events()
    assert len(cases) >= 30
    for name, kind, data in cases:
        connection_id = data.get("callConnectionId") or f"recording-{name}"
        call_id, secret = await open_call(stack, connection_id)
        event = {
            **cloud_event(kind, connection_id),
            "data": data,
        }
        response = await api.post(
            f"/communicationservices/callback/{call_id}/{secret}",
            json=[event],
            headers=bearer(_token()),
        )
        assert response.status_code == 204, f"{name}: {response.text}"


async def test_event_grid_handshake_and_secret(
    phone_api: tuple[httpx.AsyncClient, Settings],
) -> None:
    api, _ = phone_api
    validation = [
        {
            "id": "v1",
            "topic": "/subscriptions/x/providers/Microsoft.Communication/communicationServices/z",
            "subject": "",
            "data": {
                "validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6",
                "validationUrl": "https://x",
            },
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "eventTime": "2026-11-25T10:00:00Z",
            "metadataVersion": "1",
            "dataVersion": "1",
        }
    ]
    ok = await api.post(
        "/eventgrid/events?secret=eg-secret",
        json=validation,
        headers={"aeg-event-type": "SubscriptionValidation"},
    )
    assert ok.status_code == 200
    assert ok.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}
    denied = await api.post("/eventgrid/events?secret=nope", json=validation)
    assert denied.status_code == 401
    malformed = await api.post("/eventgrid/events?secret=eg-secret", content=b"{]")
    assert malformed.status_code == 400
