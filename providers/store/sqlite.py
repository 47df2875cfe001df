"""Call store in one SQLite file: the embedded default for development and single-node runs."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

from domain.call import CallState
from providers.store.base import (
    CallPage,
    Cursor,
    StoreUnavailable,
    check_limit,
    page_of,
    policyholder_phone,
    sort_key,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY,
    phone_number TEXT NOT NULL,
    policyholder_phone TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_phone_number
    ON calls (phone_number, created_at, call_id);
CREATE INDEX IF NOT EXISTS calls_created_at ON calls (created_at, call_id);
CREATE INDEX IF NOT EXISTS calls_policyholder_phone
    ON calls (policyholder_phone, created_at, call_id) WHERE policyholder_phone IS NOT NULL;
"""

_UPSERT = """
INSERT INTO calls (call_id, phone_number, policyholder_phone, created_at, updated_at, doc)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (call_id) DO UPDATE SET
    phone_number = excluded.phone_number,
    policyholder_phone = excluded.policyholder_phone,
    created_at = excluded.created_at,
    updated_at = excluded.updated_at,
    doc = excluded.doc
"""

_FOR_PHONE = "(phone_number = :phone OR policyholder_phone = :phone)"
_NEWEST_FIRST = "ORDER BY created_at DESC, call_id DESC"


class SqliteCallStore:
    """`CallStore` on one SQLite file, through a single aiosqlite connection.

    Build it, then `await store.open()` once (it creates the file, its folder and the schema)
    before any other call. The one connection runs statements one at a time on its own thread,
    so any number of workflows may save concurrently.
    """

    def __init__(self, path: str | Path) -> None:
        self._path = path
        self._db: aiosqlite.Connection | None = None

    async def open(self) -> None:
        """Connects and creates the schema; does nothing when already open."""
        if self._db is not None:
            return
        self._db = await open_database(self._path, _SCHEMA)

    @property
    def _conn(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("SqliteCallStore.open() must be awaited first")
        return self._db

    async def save(self, call: CallState) -> None:
        """Inserts the call or replaces its whole stored document."""
        cursor = await self._conn.execute(
            _UPSERT,
            (
                call.call_id,
                call.initiate.phone_number,
                policyholder_phone(call),
                sort_key(call.created_at),
                sort_key(datetime.now(UTC)),
                call.model_dump_json(),
            ),
        )
        await cursor.close()

    async def get(self, call_id: str) -> CallState | None:
        """Returns the stored call, or None when there is none with that id."""
        calls = await self._query("SELECT doc FROM calls WHERE call_id = :id", {"id": call_id})
        return calls[0] if calls else None

    async def latest_for_phone(self, phone_number: str, *, since: datetime) -> CallState | None:
        """Returns the newest call of that number created at or after `since`."""
        calls = await self._query(
            f"SELECT doc FROM calls WHERE {_FOR_PHONE} AND created_at >= :since "
            f"{_NEWEST_FIRST} LIMIT 1",
            {"phone": phone_number, "since": sort_key(since)},
        )
        return calls[0] if calls else None

    async def list_for_phone(
        self, phone_number: str, *, limit: int = 20, cursor: str | None = None
    ) -> CallPage:
        """Returns the calls of that number, newest first, `limit` at a time.

        Raises:
            ValueError: The cursor is malformed or `limit` is below 1.
        """
        check_limit(limit)
        params: dict[str, str | int] = {"phone": phone_number, "top": limit + 1}
        after = ""
        if cursor is not None:
            position = Cursor.decode(cursor)
            after = "AND (created_at, call_id) < (:at, :id)"
            params |= {"at": position.created_at, "id": position.call_id}
        calls = await self._query(
            f"SELECT doc FROM calls WHERE {_FOR_PHONE} {after} {_NEWEST_FIRST} LIMIT :top", params
        )
        return page_of(calls, limit)

    async def list_created_between(
        self, start: datetime, end: datetime, *, limit: int = 1_000
    ) -> CallPage:
        """Returns up to `limit` calls created in [`start`, `end`), newest first.

        Raises:
            ValueError: `limit` is below 1.
        """
        check_limit(limit)
        calls = await self._query(
            f"SELECT doc FROM calls WHERE created_at >= :start AND created_at < :end "
            f"{_NEWEST_FIRST} LIMIT :top",
            {"start": sort_key(start), "end": sort_key(end), "top": limit + 1},
        )
        return page_of(calls, limit)

    async def ping(self) -> None:
        """Runs a trivial query.

        Raises:
            StoreUnavailable: The store is not open or the file cannot be read.
        """
        if self._db is None:
            raise StoreUnavailable("SQLite call store is not open")
        try:
            async with self._db.execute("SELECT 1 FROM calls LIMIT 1"):
                pass
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite call store failed: {exc}") from exc

    async def close(self) -> None:
        """Closes the connection; the store can be opened again."""
        if self._db is not None:
            db, self._db = self._db, None
            await db.close()

    async def _query(self, sql: str, params: dict[str, str | int]) -> list[CallState]:
        async with self._conn.execute(sql, params) as rows:
            return [CallState.model_validate_json(doc) async for (doc,) in rows]


# How long a statement waits for another process's write to finish before "database is
# locked": the workers and the API write one file, and under a burst a write can wait longer
# than sqlite3's default of 5 s (seen once in `save_call` during the soak).
BUSY_TIMEOUT_MS = 10_000


async def open_database(
    path: str | Path, schema: str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS
) -> aiosqlite.Connection:
    """A connection in autocommit and WAL mode with `schema` applied (the call store's, and the
    campaign store's). Autocommit: every write is one statement, so no transaction is shared
    between the concurrent callers of the connection."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = await aiosqlite.connect(path, isolation_level=None)
    try:
        await db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        await db.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL only risks the last commits on power loss, never corruption.
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.executescript(schema)
    except BaseException:
        await db.close()
        raise
    return db
