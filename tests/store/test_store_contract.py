"""One contract for every call store: the same tests run on SQLite and on Cosmos DB.

Cosmos DB runs on a local in-memory `@vercel/cosmosdb-server` (see tests/support); without
Node.js and npm the Cosmos cases fail with a message saying so.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from domain.call import (
    Action,
    CallInitiate,
    CallState,
    CallStatus,
    Handoff,
    Message,
    Next,
    NextAction,
    Persona,
    Reminder,
    Satisfaction,
    Style,
    Synthesis,
    ToolCall,
)
from providers.store.base import CallStore, StoreUnavailable
from providers.store.cosmos import CosmosCallStore
from providers.store.sqlite import SqliteCallStore
from tests.support.cosmos_server import CosmosServer

CALLER = "+33612340001"
OTHER = "+33612340002"
STRANGER = "+33612340003"
AGENT = "+33612349999"
T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


def make_call(
    phone: str = CALLER,
    created_at: datetime = T0,
    *,
    call_id: str | None = None,
    policyholder_phone: str | None = None,
) -> CallState:
    """A call as the workflow saves it mid-conversation."""
    return CallState(
        call_id=call_id or str(uuid4()),
        created_at=created_at,
        initiate=CallInitiate(
            phone_number=phone, bot_company="Contoso", bot_name="Amélie", agent_phone_number=AGENT
        ),
        status=CallStatus.IN_PROGRESS,
        claim={
            "policyholder_name": "Jeanne Dupont",
            "policyholder_phone": policyholder_phone,
            "incident_description": "Rear-ended at a red light — “bumper” cracked",
            "injuries": None,
        },
    )


def realistic_call() -> CallState:
    start = datetime(2025, 3, 1, 10, 0, 0, 123456, tzinfo=PARIS)
    return make_call(created_at=start, policyholder_phone=OTHER).model_copy(
        update={
            "direction": "inbound",
            "messages": [
                Message(created_at=start, persona=Persona.ASSISTANT, content="Bonjour !"),
                Message(
                    created_at=start + timedelta(seconds=4),
                    persona=Persona.HUMAN,
                    content="J'ai eu un accident.",
                    lang_short_code="fr-FR",
                    turn_id=1,
                ),
                Message(
                    created_at=start + timedelta(seconds=6),
                    persona=Persona.ASSISTANT,
                    style=Style.SAD,
                    action=Action.TALK,
                    content="Je suis désolée.",
                    tool_calls=[
                        ToolCall(
                            tool_id="call_1",
                            function_name="updated_claim",
                            function_arguments='{"field": "injuries", "value": "none"}',
                            content="ok",
                        )
                    ],
                    turn_id=1,
                ),
            ],
            "reminders": [
                Reminder(
                    created_at=start,
                    title="Call back about the garage quote",
                    due_date_time=datetime(2025, 3, 3, 14, 0, tzinfo=ZoneInfo("America/New_York")),
                    owner="agent",
                    updated_at=start + timedelta(minutes=1),
                )
            ],
            "next": Next(action=NextAction.REQUIRES_EXPERTISE, justification="Damage estimate"),
            "synthesis": Synthesis(
                long="**Accident**",
                short="your accident",
                satisfaction=Satisfaction.HIGH,
                improvement_suggestions="none",
            ),
            "handoff": Handoff(requested_at=start, target=AGENT, status="queued"),
            "lang_short_code": "fr-FR",
            "prosody_rate": 1.1,
            "last_turn_id": 1,
            "last_interaction_at": start + timedelta(seconds=6),
            "updated_at": start + timedelta(seconds=7),
        }
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def cosmos_server() -> Iterator[CosmosServer]:
    with CosmosServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "cosmos"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CallStore]:
    backend: SqliteCallStore | CosmosCallStore
    if request.param == "sqlite":
        backend = SqliteCallStore(tmp_path / "calls.db")
    else:
        # Requested here, not as an argument, so SQLite cases neither start nor need node.
        server: CosmosServer = request.getfixturevalue("cosmos_server")
        backend = CosmosCallStore(
            server.endpoint,
            server.key,
            "callcenter",
            f"calls-{uuid4().hex}",  # a fresh container per test keeps tests independent
            enable_endpoint_discovery=False,
        )
    await backend.open()
    yield backend
    await backend.close()


async def test_save_and_get_round_trip(store: CallStore) -> None:
    call = realistic_call()
    await store.save(call)
    assert await store.get(call.call_id) == call


async def test_save_overwrites_the_whole_document(store: CallStore) -> None:
    call = make_call(policyholder_phone=OTHER)
    await store.save(call)
    ended = call.model_copy(
        update={
            "status": CallStatus.ENDED,
            "claim": {**call.claim, "policyholder_phone": STRANGER},
            "messages": [Message(created_at=T0, persona=Persona.HUMAN, content="Au revoir")],
        }
    )
    await store.save(ended)

    assert await store.get(call.call_id) == ended
    assert [c.call_id for c in (await store.list_for_phone(CALLER)).calls] == [call.call_id]
    assert (await store.list_for_phone(OTHER)).calls == []  # the old claim phone is gone
    assert [c.call_id for c in (await store.list_for_phone(STRANGER)).calls] == [call.call_id]


async def test_get_unknown_returns_none(store: CallStore) -> None:
    await store.save(make_call())
    assert await store.get("no-such-call") is None


async def test_latest_for_phone_picks_newest_since(store: CallStore) -> None:
    calls = [make_call(created_at=T0 + timedelta(hours=h)) for h in (0, 1, 2)]
    for call in reversed(calls):  # insertion order must not matter
        await store.save(call)
    await store.save(make_call(OTHER, created_at=T0 + timedelta(hours=5)))

    newest = calls[-1]
    assert await store.latest_for_phone(CALLER, since=T0) == newest
    # `since` is inclusive, and compared as an instant whatever its timezone.
    assert await store.latest_for_phone(CALLER, since=newest.created_at.astimezone(PARIS)) == newest
    later = newest.created_at + timedelta(microseconds=1)
    assert await store.latest_for_phone(CALLER, since=later) is None
    assert await store.latest_for_phone(STRANGER, since=T0 - timedelta(days=1)) is None


async def test_matches_by_policyholder_phone(store: CallStore) -> None:
    own = make_call(CALLER, T0)
    from_other_phone = make_call(OTHER, T0 + timedelta(minutes=10), policyholder_phone=CALLER)
    await store.save(own)
    await store.save(from_other_phone)

    assert await store.latest_for_phone(CALLER, since=T0) == from_other_phone
    page = await store.list_for_phone(CALLER)
    assert [c.call_id for c in page.calls] == [from_other_phone.call_id, own.call_id]
    assert [c.call_id for c in (await store.list_for_phone(OTHER)).calls] == [
        from_other_phone.call_id
    ]


async def test_other_numbers_are_never_returned(store: CallStore) -> None:
    await store.save(make_call(CALLER, policyholder_phone=OTHER))
    await store.save(make_call(OTHER))

    page = await store.list_for_phone(STRANGER)
    assert page.calls == []
    assert page.next_cursor is None
    assert await store.latest_for_phone(STRANGER, since=T0 - timedelta(days=1)) is None


async def test_list_for_phone_pages_newest_first(store: CallStore) -> None:
    # Pairs share a created_at so the call id tie-break decides their order.
    mine = [
        make_call(created_at=T0 + timedelta(minutes=m // 2), call_id=f"call-{m:02d}")
        for m in range(7)
    ]
    noise = [make_call(OTHER, T0 + timedelta(minutes=m)) for m in range(3)]
    for call in [*mine, *noise]:
        await store.save(call)
    expected = sorted(mine, key=lambda c: (c.created_at, c.call_id), reverse=True)

    pages = []
    cursor: str | None = None
    while True:
        page = await store.list_for_phone(CALLER, limit=3, cursor=cursor)
        pages.append([c.call_id for c in page.calls])
        cursor = page.next_cursor
        if cursor is None:
            break
        assert len(pages) < 10, "pagination does not end"

    assert [len(p) for p in pages] == [3, 3, 1]
    assert [call_id for p in pages for call_id in p] == [c.call_id for c in expected]


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b'["yesterday", "call-1"]').decode(),
        base64.urlsafe_b64encode(b'["2025-03-01T09:30:00.000000Z", 7]').decode(),
    ],
    ids=["not-base64", "not-json", "not-a-pair", "bad-timestamp", "bad-call-id"],
)
async def test_invalid_cursor_raises(store: CallStore, cursor: str) -> None:
    with pytest.raises(ValueError, match="invalid cursor"):
        await store.list_for_phone(CALLER, cursor=cursor)


async def test_concurrent_saves_are_all_readable(store: CallStore) -> None:
    calls = [make_call(created_at=T0 + timedelta(seconds=i)) for i in range(50)]
    await asyncio.gather(*(store.save(call) for call in calls))

    stored = await asyncio.gather(*(store.get(call.call_id) for call in calls))
    assert stored == calls
    page = await store.list_for_phone(CALLER, limit=100)
    assert {c.call_id for c in page.calls} == {c.call_id for c in calls}


async def test_ping_ok(store: CallStore) -> None:
    await store.ping()


async def test_sqlite_data_survives_reopening(tmp_path: Path) -> None:
    call = realistic_call()
    first = SqliteCallStore(tmp_path / "nested" / "calls.db")
    await first.open()
    await first.save(call)
    await first.close()

    second = SqliteCallStore(tmp_path / "nested" / "calls.db")
    await second.open()
    try:
        assert await second.get(call.call_id) == call
        assert await second.latest_for_phone(CALLER, since=call.created_at) == call
    finally:
        await second.close()


async def test_sqlite_save_waits_out_another_process_write(tmp_path: Path) -> None:
    """Workers and the API write one file: a save waits for another writer longer than
    sqlite3's default 5 s instead of failing with "database is locked"."""
    path = tmp_path / "calls.db"
    store = SqliteCallStore(path)
    await store.open()
    locked, release = threading.Event(), threading.Event()

    def other_writer() -> None:  # another process's long write transaction
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(10)
        db.execute("COMMIT")
        db.close()

    writer = threading.Thread(target=other_writer)
    writer.start()
    try:
        assert await asyncio.to_thread(locked.wait, 5)
        asyncio.get_running_loop().call_later(5.5, release.set)
        started = time.monotonic()
        call = make_call()
        await store.save(call)
        assert time.monotonic() - started >= 5.0  # it did wait for the lock
        assert await store.get(call.call_id) == call
    finally:
        release.set()
        writer.join()
        await store.close()


async def test_sqlite_ping_fails_when_closed(tmp_path: Path) -> None:
    store = SqliteCallStore(tmp_path / "calls.db")
    await store.open()
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.ping()


async def test_cosmos_ping_fails_fast_when_nothing_listens() -> None:
    store = CosmosCallStore(
        f"http://127.0.0.1:{free_port()}",
        CosmosServer.key,
        "callcenter",
        "calls",
        enable_endpoint_discovery=False,
        timeout_s=2,
        retry_total=0,
    )
    started = time.monotonic()
    try:
        with pytest.raises(StoreUnavailable):
            await store.ping()
    finally:
        await store.close()
    assert time.monotonic() - started < 5
