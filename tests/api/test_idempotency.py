"""Resends are safe: a turn resent with its `turn_id`, a `POST /call` retried with its
`Idempotency-Key`, and every failure (a Temporal outage included) answered as `{"error": …}`.

The outage test runs its own Temporal dev server as an OS process, SIGKILLs it mid-turn and
restarts it on the same database file, with the API served over real HTTP.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest
import uvicorn
from redis.asyncio import Redis
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RetryConfig
from temporalio.testing import WorkflowEnvironment

from api.deps import Services
from api.idempotency import call_id_for_incoming, call_id_for_sms
from api.main import create_app
from cli.chat import describe, send_turn
from core.devserver import dev_server_command
from core.redis_server import free_port
from core.settings import Settings
from core.stores import open_store
from core.temporal import connect
from providers.sms.outbox import OutboxSms
from scripted_llm.runner import ScriptedLlmServer
from scripted_llm.script import ScriptedReply
from tests.conftest import Stack, make_settings, running_stack
from tests.workflows.test_continue_as_new import small_history_env as small_history_env  # noqa: F401
from tests.workflows.test_conversations import claim_update, text
from worker import build_worker
from workflows.call import CallWorkflow


async def human_turns(stack_client: Client, call_id: str) -> list[tuple[int | None, str]]:
    handle = stack_client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    state = await handle.query(CallWorkflow.get_state)
    return [
        (m.turn_id, m.content)
        for m in state.messages
        if m.persona.value == "human" and m.turn_id is not None
    ]


async def test_a_resent_turn_gets_the_first_outcome_and_is_applied_once(stack: Stack) -> None:
    call_id = await stack.start_call()
    # Slow enough that the second send arrives while the first turn is still running.
    stack.llm.state.add(ScriptedReply(text="Your claim is open.", delay_s=1.0), user=call_id)
    body = {"text": "Is my claim open?", "turn_id": 1}
    url = f"/call/{call_id}/messages"
    running = asyncio.create_task(stack.api.post(url, json=body))
    await stack.llm.state.wait_for_requests(1, user=call_id)
    resent = await stack.api.post(url, json=body)  # while the first is still being answered
    first = await running
    assert first.status_code == resent.status_code == 200, (first.text, resent.text)
    assert first.json()["text"] == "Your claim is open."
    assert resent.json() == first.json()
    # The same turn again, while running and after: the first outcome, never a second turn.
    stack.llm.state.add(ScriptedReply(text="A SECOND ANSWER"), user=call_id)
    again = await stack.api.post(url, json=body)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert await human_turns(stack.client, call_id) == [(1, "Is my claim open?")]
    assert len(stack.llm.state.requests(user=call_id)) == 1
    # The next turn is a new one, and a number already used (not resent) is still refused.
    nxt = await stack.api.post(url, json={"text": "Thanks.", "turn_id": 2})
    assert nxt.status_code == 200 and nxt.json()["text"] == "A SECOND ANSWER"
    assert len(stack.llm.state.requests(user=call_id)) == 2


async def test_two_concurrent_sends_of_one_turn_share_one_answer(stack: Stack) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(ScriptedReply(text="One answer.", delay_s=1.0), user=call_id)
    stack.llm.state.add(ScriptedReply(text="AN ANSWER TOO MANY"), user=call_id)
    body = {"text": "Hello?", "turn_id": 1}
    one, two = await asyncio.gather(
        stack.api.post(f"/call/{call_id}/messages", json=body),
        stack.api.post(f"/call/{call_id}/messages", json=body),
    )
    assert one.status_code == two.status_code == 200, (one.text, two.text)
    assert one.json() == two.json() and one.json()["text"] == "One answer."
    assert await human_turns(stack.client, call_id) == [(1, "Hello?")]
    assert len(stack.llm.state.requests(user=call_id)) == 1


async def test_post_call_with_an_idempotency_key_places_one_call(stack: Stack) -> None:
    body = {"phone_number": "+33612000077", "bot_name": "Amélie"}
    key = {"Idempotency-Key": "order-4242-call"}
    first, second = await asyncio.gather(
        stack.api.post("/call", json=body, headers=key),
        stack.api.post("/call", json=body, headers=key),
    )
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert first.json() == second.json()
    replayed = [r.headers.get("Idempotent-Replayed") for r in (first, second)]
    assert sorted(replayed, key=str) == ["true", None] or replayed.count("true") == 1
    call_id = first.json()["call_id"]
    # A worker killed holding this call's workflow task stalls it 1 s, not the default 10 s.
    assert await task_timeout_sec(stack.client, call_id) == 1.0
    # Even once that call has ended, the key still names it: no second call.
    handle = stack.client.get_workflow_handle(f"call-{call_id}")
    await handle.terminate("test: the call is over")
    later = await stack.api.post("/call", json=body, headers=key)
    assert later.status_code == 201 and later.json() == first.json()
    assert later.headers["Idempotent-Replayed"] == "true"
    description = await handle.describe()
    assert description.status == WorkflowExecutionStatus.TERMINATED  # not restarted
    # The same key with another body is a client error, in the error shape.
    other = await stack.api.post("/call", json={**body, "bot_name": "Zoé"}, headers=key)
    assert other.status_code == 422
    assert "different request body" in other.json()["error"]["message"]
    # Another key, or none, is another call.
    fresh = await stack.api.post("/call", json=body, headers={"Idempotency-Key": "order-4243"})
    plain = await stack.api.post("/call", json=body)
    assert len({call_id, fresh.json()["call_id"], plain.json()["call_id"]}) == 3
    bad = await stack.api.post("/call", json=body, headers={"Idempotency-Key": "a b"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == (
        "Idempotency-Key"
    )


async def test_idempotency_keys_are_scoped_per_api_key_and_documented(stack: Stack) -> None:
    settings = type(stack.settings).model_validate(
        {
            **stack.settings.model_dump(),
            "api": {"keys": ["tenant-one-key-0123456789abcdef", "tenant-two-key-0123456789abcdef"]},
        }
    )
    app = create_app(settings, Services(settings, stack.client, stack.store, stack.redis))
    body = {"phone_number": "+33612000078"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as c:
        calls = {}
        for tenant in ("tenant-one-key-0123456789abcdef", "tenant-two-key-0123456789abcdef"):
            headers = {"X-API-Key": tenant, "Idempotency-Key": "same-key"}
            response = await c.post("/call", json=body, headers=headers)
            assert response.status_code == 201, response.text
            calls[tenant] = response.json()["call_id"]
        assert calls["tenant-one-key-0123456789abcdef"] != calls["tenant-two-key-0123456789abcdef"]
        schema = (await c.get("/openapi.json", headers={"X-API-Key": tenant})).json()
    parameters = schema["paths"]["/call"]["post"]["parameters"]
    (header,) = [p for p in parameters if p["name"] == "Idempotency-Key"]
    assert header["in"] == "header" and not header.get("required", False)
    assert "places no second call" in header["description"]
    turn_id = schema["components"]["schemas"]["MessageCreate"]["properties"]["turn_id"]
    assert "never applied twice" in turn_id["description"]


# --- a real Temporal outage ---------------------------------------------------------------


class DevServer:
    """The Temporal dev server as its own OS process, on a database file that outlives it."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        command = dev_server_command(self.db, port=self.port, ui_port=free_port())
        self.process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        for _ in range(300):
            try:
                client = await Client.connect(self.address, retry_config=RetryConfig(max_retries=0))
                await client.count_workflows()
                return
            except RuntimeError:
                await asyncio.sleep(0.1)
        raise AssertionError("the Temporal dev server did not start")

    async def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no goodbye to clients or workers
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            await self.kill()


@pytest.fixture
async def outage_stack(
    redis_url: str, scripted_llm: ScriptedLlmServer, tmp_path: Path
) -> AsyncIterator[tuple[DevServer, httpx.AsyncClient, Client]]:
    server = DevServer(tmp_path / "temporal.sqlite3")
    await server.start()
    try:
        settings = make_settings(tmp_path, redis_url, scripted_llm, server.address)
        client = await connect(settings.temporal)  # as the API and the workers connect
        async with AsyncExitStack() as resources:
            worker = await build_worker(client, settings, resources)
            redis = Redis.from_url(redis_url)
            resources.push_async_callback(redis.aclose)
            store = await open_store(settings.store)
            resources.push_async_callback(store.close)
            app = create_app(settings, Services(settings, client, store, redis))
            port = free_port()
            api_server = uvicorn.Server(
                uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical")
            )
            serving = asyncio.create_task(api_server.serve())
            while not api_server.started:
                await asyncio.sleep(0.02)
            api = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60)
            running = asyncio.create_task(worker.run())
            try:
                yield server, api, client
            finally:
                await api.aclose()
                api_server.should_exit = True
                await serving
                await worker.shutdown()
                await asyncio.gather(running, return_exceptions=True)
    finally:
        await server.stop()


async def test_a_temporal_outage_is_a_503_and_the_resent_turn_is_answered_once(
    outage_stack: tuple[DevServer, httpx.AsyncClient, Client], scripted_llm: ScriptedLlmServer
) -> None:
    server, api, client = outage_stack
    created = await api.post("/call", json={"phone_number": "+33612000079"})
    assert created.status_code == 201, created.text
    call_id = created.json()["call_id"]
    scripted_llm.state.add(ScriptedReply(text="Noted, thank you.", delay_s=1.5), user=call_id)
    # The workflow may ask the LLM again once Temporal is back (the first answer's completion
    # was lost with the server): that is the workflow's business, not the API's.
    scripted_llm.state.add(ScriptedReply(text="Noted."), user=call_id)
    # The turn is accepted, then Temporal dies while the answer is being thought.
    pending = asyncio.create_task(
        api.post(f"/call/{call_id}/messages", json={"text": "My car was hit.", "turn_id": 1})
    )
    await scripted_llm.state.wait_for_requests(1, user=call_id)
    await server.kill()

    cut = await pending
    assert cut.status_code == 503, cut.text
    assert cut.headers["content-type"] == "application/json"
    assert int(cut.headers["retry-after"]) > 0
    assert "unavailable" in cut.json()["error"]["message"]
    refused = await api.post("/call", json={"phone_number": "+33612000080"})
    assert refused.status_code == 503 and "error" in refused.json()
    assert describe(refused).startswith("503 ")

    # `callcenter chat` resends the same turn until the API can answer: Temporal comes back on
    # the same database, and the resend gets the first turn's outcome.
    async def restart_later() -> None:
        await asyncio.sleep(1.0)
        await server.start()

    restarting = asyncio.create_task(restart_later())
    reply = await send_turn(api, call_id, "My car was hit.", 1, attempts=30)
    await restarting
    assert reply is not None and reply.status_code == 200, describe(reply)
    assert reply.json()["turn_id"] == 1
    assert await human_turns(client, call_id) == [(1, "My car was hit.")]
    handle = client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    state = await handle.query(CallWorkflow.get_state)
    answers = [m.content for m in state.messages if m.turn_id == 1 and m.persona.value != "human"]
    assert reply.json()["text"] in answers  # the outcome the call stored, not a second turn


async def task_timeout_sec(client: Client, call_id: str) -> float:
    """The workflow task timeout the call's current run was started with."""
    description = await client.get_workflow_handle(f"call-{call_id}").describe()
    config = description.raw_description.execution_config
    return config.default_workflow_task_timeout.ToTimedelta().total_seconds()


async def test_without_redis_an_incoming_call_and_a_text_are_still_handled_once(
    stack: Stack,
) -> None:
    data = stack.settings.model_dump()
    data["telephony"] = {
        "kind": "acs",
        "acs": {
            "endpoint": "http://127.0.0.1:9",
            "access_key": "a2V5",
            "phone_number": "+14255550100",
            "resource_id": "resource",
            "jwks_url": "http://127.0.0.1:9/keys",
            "event_grid_secret": "eg-secret",
        },
    }
    settings = Settings.model_validate(data)
    # Nothing listens there: every Redis command of this API fails.
    dead = Redis.from_url(f"redis://127.0.0.1:{free_port()}", socket_connect_timeout=0.2)
    app = create_app(settings, Services(settings, stack.client, stack.store, dead))
    context = f"context-{uuid.uuid4()}"
    event = {
        "id": str(uuid.uuid4()),
        "topic": "/subscriptions/s/resourceGroups/rg/providers/x/communicationServices/acs",
        "subject": "/caller/4:+33612000081/recipient/4:+14255550100",
        "data": {
            "to": {"kind": "phoneNumber", "rawId": "4:+14255550100"},
            "from": {"kind": "phoneNumber", "rawId": "4:+33612000081",
                     "phoneNumber": {"value": "+33612000081"}},
            "serverCallId": "server-call",
            "incomingCallContext": context,
            "correlationId": "corr",
        },
        "eventType": "Microsoft.Communication.IncomingCall",
        "dataVersion": "1.0",
        "metadataVersion": "1",
        "eventTime": "2026-12-07T10:00:00Z",
    }  # fmt: skip
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as c:
        for _ in range(2):
            answer = await c.post("/eventgrid/events?secret=eg-secret", json=[event])
            assert answer.status_code == 200, answer.text
        # A text redelivered while its turn runs: the update id alone makes it one turn.
        customer, message_id = "+33612000082", f"Incoming_{uuid.uuid4().hex}"
        sms = {
            "id": message_id,
            "topic": "/subscriptions/s/resourcegroups/rg/providers/x/communicationservices/acs",
            "subject": f"/phonenumber/{customer}",
            "data": {
                "messageId": message_id,
                "from": customer,
                "to": "+14255550100",
                "message": "Are you open on Sunday?",
                "receivedTimestamp": "2026-12-07T10:00:00Z",
            },
            "eventType": "Microsoft.Communication.SMSReceived",
            "dataVersion": "1.0",
            "metadataVersion": "1",
            "eventTime": "2026-12-07T10:00:00Z",
        }
        sms_call = call_id_for_sms("acs", message_id)
        stack.llm.state.add(ScriptedReply(text="Closed on Sunday.", delay_s=0.5), user=sms_call)
        stack.llm.state.add(ScriptedReply(text="A SECOND REPLY"), user=sms_call)
        texts = await asyncio.gather(
            *(c.post("/eventgrid/events?secret=eg-secret", json=[sms]) for _ in range(2))
        )
        assert [t.status_code for t in texts] == [200, 200]
    await dead.aclose()
    replies = [m["body"] for m in OutboxSms(stack.settings.sms.outbox_path).read()]
    assert replies.count("Closed on Sunday.") == 1 and "A SECOND REPLY" not in replies
    call_id = call_id_for_incoming(context)
    description = await stack.client.get_workflow_handle(f"call-{call_id}").describe()
    assert description.run_id is not None
    runs = [w async for w in stack.client.list_workflows(f"WorkflowId = 'call-{call_id}'")]
    assert len(runs) <= 1  # visibility may lag, but never shows two


async def test_a_turn_resent_after_the_call_continued_as_new_gets_its_outcome(
    small_history_env: WorkflowEnvironment,
    redis_url: str,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
) -> None:
    async with running_stack(small_history_env.client, redis_url, scripted_llm, tmp_path) as stack:
        api, client = stack.api, stack.client
        call_id = (await api.post("/call", json={"phone_number": "+33612000083"})).json()["call_id"]
        handle = client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
        first_run = (await handle.describe()).run_id
        turns = 10
        for turn in range(turns):
            scripted_llm.state.add(
                claim_update(("witnesses", f"witness {turn}")),
                text(f"Noted witness {turn}."),
                user=call_id,
            )
        url = f"/call/{call_id}/messages"
        replies = []
        for turn in range(1, turns + 1):
            response = await api.post(url, json={"text": f"Witness {turn}", "turn_id": turn})
            assert response.status_code == 200, response.text
            replies.append(response.json())
        assert (await handle.describe()).run_id != first_run  # the history was rotated
        # Every turn resent: the ones of earlier runs too get their first outcome.
        for turn in range(1, turns + 1):
            again = await api.post(url, json={"text": f"Witness {turn}", "turn_id": turn})
            assert again.status_code == 200, again.text
            assert again.json() == replies[turn - 1]
        # A used number with another text is a conflict, not a resend.
        other = await api.post(url, json={"text": "Something else", "turn_id": 1})
        assert other.status_code == 409
        assert len(scripted_llm.state.requests(user=call_id)) == 2 * turns
        state = await handle.query(CallWorkflow.get_state)
        assert state.last_turn_id == turns
