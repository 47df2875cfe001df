"""HTTP API: validation errors, look-ups, auth, health, and what the Temporal UI shows."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from redis.asyncio import Redis
from temporalio.client import WorkflowExecutionStatus

from api.deps import Services
from api.main import create_app
from domain import attributes
from tests.conftest import Stack


async def test_bad_phone_number_is_a_422_naming_the_field(stack: Stack) -> None:
    response = await stack.api.post("/call", json={"phone_number": "0612345678"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"][0]["field"] == "phone_number"
    assert "E.164" in error["details"][0]["reason"]


async def test_unknown_claim_type_and_oversized_task_are_422(stack: Stack) -> None:
    claim = [{"name": "car_color", "type": "colour"}]
    response = await stack.api.post("/call", json={"phone_number": "+33612345678", "claim": claim})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "claim.0.type"

    response = await stack.api.post(
        "/call", json={"phone_number": "+33612345678", "task": "x" * 5_000}
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "task"


async def test_unknown_call_is_404(stack: Stack) -> None:
    response = await stack.api.get("/call/3f1c0c3e-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert "not found" in response.json()["error"]["message"]
    response = await stack.say("3f1c0c3e-0000-4000-8000-000000000000", "hello")
    assert response.status_code == 404


async def test_post_call_returns_at_once_with_ui_url_and_shows_in_temporal(stack: Stack) -> None:
    response = await stack.api.post(
        "/call", json={"phone_number": "+14155550123", "bot_name": "Amélie"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["workflow_id"] == f"call-{body['call_id']}"
    assert body["temporal_ui_url"].endswith(f"/namespaces/default/workflows/{body['workflow_id']}")

    handle = stack.client.get_workflow_handle(body["workflow_id"])
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.RUNNING
    assert await description.static_summary() == "Outbound call to +1415…0123, Contoso / Amélie"
    typed = description.typed_search_attributes
    # Search attributes are plaintext: the number is there only as its keyed hash.
    phone_key = stack.settings.temporal.codec.phone_key("+14155550123")
    assert typed.get(attributes.PHONE_NUMBER) == phone_key != "+14155550123"
    assert typed.get(attributes.BOT_NAME) == "Amélie"

    # The workflow upserts its status and shows the claim progress as current details.
    for _ in range(50):
        description = await handle.describe()
        if description.typed_search_attributes.get(attributes.STATUS) == "in_progress":
            break
        await asyncio.sleep(0.1)
    assert description.typed_search_attributes.get(attributes.STATUS) == "in_progress"
    metadata = await handle.query("__temporal_workflow_metadata")
    assert "claim 0/12" in metadata.current_details
    assert "policyholder_email" in metadata.current_details

    query = f"CallPhoneNumber = '{phone_key}' AND CallStatus = 'in_progress'"
    found: list[str] = []
    for _ in range(50):  # visibility is eventually consistent
        found = [w.id async for w in stack.client.list_workflows(query)]
        if body["workflow_id"] in found:
            break
        await asyncio.sleep(0.2)
    assert body["workflow_id"] in found


async def test_list_calls_by_phone_number_paginates(stack: Stack) -> None:
    ids = [await stack.start_call(phone_number="+33612000001") for _ in range(3)]
    for call_id in ids:  # each call saves itself on start
        for _ in range(50):
            if await stack.store.get(call_id):
                break
            await asyncio.sleep(0.1)
    first = (
        await stack.api.get("/call", params={"phone_number": "+33612000001", "limit": 2})
    ).json()
    assert len(first["calls"]) == 2 and first["next_cursor"]
    second = (
        await stack.api.get(
            "/call",
            params={"phone_number": "+33612000001", "limit": 2, "cursor": first["next_cursor"]},
        )
    ).json()
    seen = [c["call_id"] for c in first["calls"] + second["calls"]]
    assert sorted(seen) == sorted(ids)
    bad = await stack.api.get("/call", params={"phone_number": "not a phone"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "phone_number"


async def test_turn_validation_empty_oversized_and_stale(stack: Stack) -> None:
    call_id = await stack.start_call()
    assert (await stack.say(call_id, "")).status_code == 422
    assert (await stack.say(call_id, "x" * 2_001)).status_code == 422
    ok = await stack.api.post(f"/call/{call_id}/messages", json={"text": "Hi", "turn_id": 5})
    assert ok.status_code == 200 and ok.json()["turn_id"] == 5
    stale = await stack.api.post(f"/call/{call_id}/messages", json={"text": "Hi", "turn_id": 4})
    assert stale.status_code == 409
    assert "stale turn 4" in stale.json()["error"]["message"]
    # The workflow's own validator rejects what bypasses the API's checks.
    from temporalio.client import WorkflowUpdateFailedError

    from domain.contracts import UserTurn
    from workflows.call import CallWorkflow

    handle = stack.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    try:
        await handle.execute_update(CallWorkflow.user_turn, UserTurn(text="   "))
        raise AssertionError("an empty turn was accepted")
    except WorkflowUpdateFailedError as exc:
        assert "text is empty" in str(exc.cause)
    state = await handle.query(CallWorkflow.get_state)
    assert state.last_turn_id == 5  # nothing was applied


async def test_api_keys_protect_everything_but_health(stack: Stack) -> None:
    settings = type(stack.settings).model_validate(
        {**stack.settings.model_dump(), "api": {"keys": ["s3cret-api-key-0123456789abcdef"]}}
    )
    app = create_app(settings, Services(settings, stack.client, stack.store, stack.redis))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as c:
        assert (await c.get("/health/liveness")).status_code == 200
        denied = await c.post("/call", json={"phone_number": "+33612345678"})
        assert denied.status_code == 401
        assert "X-API-Key" in denied.json()["error"]["message"]
        wrong = await c.get(
            "/call", params={"phone_number": "+33612345678"}, headers={"X-API-Key": "nope"}
        )
        assert wrong.status_code == 401
        allowed = await c.post(
            "/call",
            json={"phone_number": "+33612345678"},
            headers={"X-API-Key": "s3cret-api-key-0123456789abcdef"},
        )
        assert allowed.status_code == 201


async def test_readiness_names_what_failed(stack: Stack, tmp_path: Path) -> None:
    ready = await stack.api.get("/health/readiness")
    assert ready.status_code == 200, ready.text
    assert {c["id"] for c in ready.json()["checks"]} == {"temporal", "store", "redis"}

    dead_redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    app = create_app(
        stack.settings, Services(stack.settings, stack.client, stack.store, dead_redis)
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as c:
        response = await c.get("/health/readiness")
    await dead_redis.aclose()
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "not ready: redis"
