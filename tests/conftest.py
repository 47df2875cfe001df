"""Shared fixtures: real services started once per test session.

- a private redis-server, the Temporal dev server (tuned, with our search attributes) and the
  time-skipping test server, both from the installed binaries (no download);
- the scripted OpenAI-compatible LLM server over real HTTP;
- `stack`: settings pointing at all of these, a running worker and the API app.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment

from api.deps import Services
from api.main import create_app
from core.devserver import TUNED_ARGS, temporal_binary, test_server_binary
from core.redis_server import RedisProcess
from core.settings import Settings
from core.stores import open_store
from core.temporal import register_search_attributes
from domain import attributes
from providers.flags.redis_flags import RedisFlags
from providers.sentences.redis_stream import RedisSentenceStream
from providers.store.base import CallStore
from scripted_llm.runner import ScriptedLlmServer
from tests.support.codec import TEST_CODEC, codec_converter
from tests.support.histories import RECORDING, record_histories  # noqa: F401 (a fixture)
from worker import build_worker


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`RECORD_HISTORIES=1`: every test saves the histories of the workflows it ran. Requested
    last, the recorder is torn down first, while the test's Temporal server is still up."""
    if RECORDING:
        for item in items:
            if isinstance(item, pytest.Function):
                item.fixturenames.append("record_histories")


SEARCH_ATTRIBUTES: list[SearchAttributeKey[Any]] = [
    attributes.PHONE_NUMBER,
    attributes.STATUS,
    attributes.BOT_NAME,
    attributes.OUTCOME,
    attributes.CLAIM_FILLED,
]


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A private, empty redis-server for the whole session."""
    server = RedisProcess().start()
    yield server.url
    server.stop()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=codec_converter(),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=list(TUNED_ARGS),
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A fresh time-skipping server per test (it starts in ~0.2 s).

    Shared across tests, workflows left behind by an earlier test (timers due on a task queue
    whose worker is gone) keep the server from skipping time, and later tests time out.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_binary(),
        data_converter=codec_converter(),
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def scripted_llm() -> AsyncIterator[ScriptedLlmServer]:
    async with ScriptedLlmServer() as server:
        yield server


def make_settings(tmp: Path, redis_url: str, llm: ScriptedLlmServer, address: str) -> Settings:
    model = {"endpoint": llm.base_url, "model": "fast-model", "api_key": "test"}
    return Settings(
        environment="test",
        temporal={
            "address": address,
            "task_queue": f"calls-{uuid.uuid4().hex[:8]}",
            "codec": TEST_CODEC,
        },
        redis={"url": redis_url},
        llm={"fast": model, "slow": {**model, "model": "slow-model"}},
        store={"sqlite_path": tmp / "calls.sqlite3"},
        search={"sqlite_path": tmp / "search.sqlite3"},
        sms={"outbox_path": tmp / "sms.jsonl"},
        flags={"redis_key": f"flags:{uuid.uuid4().hex[:8]}", "cache_ttl_sec": 0},
    )


@dataclass
class Stack:
    """A running call stack: worker + API on real Temporal, Redis, SQLite and LLM servers."""

    settings: Settings
    client: Client
    api: httpx.AsyncClient
    store: CallStore
    redis: Redis
    llm: ScriptedLlmServer
    flags: RedisFlags
    sentences: RedisSentenceStream

    async def start_call(self, **body: object) -> str:
        response = await self.api.post("/call", json={"phone_number": "+33612345678", **body})
        assert response.status_code == 201, response.text
        call_id: str = response.json()["call_id"]
        return call_id

    async def say(self, call_id: str, text: str) -> httpx.Response:
        return await self.api.post(f"/call/{call_id}/messages", json={"text": text})


@pytest.fixture
async def stack(
    temporal_env: WorkflowEnvironment,
    redis_url: str,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
) -> AsyncIterator[Stack]:
    async with running_stack(temporal_env.client, redis_url, scripted_llm, tmp_path) as opened:
        yield opened


@asynccontextmanager
async def running_stack(
    client: Client, redis_url: str, scripted_llm: ScriptedLlmServer, tmp_path: Path
) -> AsyncIterator[Stack]:
    """A worker and the API (in process) on `client`'s server; the worker stops on leaving."""
    settings = make_settings(
        tmp_path, redis_url, scripted_llm, client.service_client.config.target_host
    )
    async with AsyncExitStack() as resources:
        worker = await build_worker(client, settings, resources)
        redis = Redis.from_url(redis_url)
        resources.push_async_callback(redis.aclose)
        store = await open_store(settings.store)
        resources.push_async_callback(store.close)
        app = create_app(settings, Services(settings, client, store, redis))
        transport = httpx.ASGITransport(app=app)
        api = httpx.AsyncClient(transport=transport, base_url="http://api", timeout=60)
        resources.push_async_callback(api.aclose)
        flags = RedisFlags(redis, key=settings.flags.redis_key, ttl_sec=0)
        sentences = RedisSentenceStream(redis)
        task = asyncio.create_task(worker.run())
        try:
            yield Stack(settings, client, api, store, redis, scripted_llm, flags, sentences)
        finally:
            await worker.shutdown()
            await asyncio.gather(task, return_exceptions=True)
