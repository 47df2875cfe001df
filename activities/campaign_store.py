"""The campaign store: campaigns, their contacts and attempts, and the do-not-call list, in one
SQLite file shared by the API (which creates campaigns) and the workers (which dial them).

Contacts are read a page at a time, never all at once: the workflow asks for as many as it
has free lines (`claim`), and a contact's next due time (its retry, then its calling hours) is
kept on its row so the next due contact is one indexed look-up.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiosqlite
from pydantic import BaseModel, ConfigDict

from domain.calling_hours import CallingWindow, NeverOpen, effective, is_open, next_open, zone
from domain.campaign import (
    CallTemplate,
    CampaignStatus,
    ContactResult,
    ContactState,
    RetryRules,
    call_id_for,
)
from domain.outcome import CallOutcome
from providers.store.base import sort_key
from providers.store.sqlite import open_database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS campaigns (
    campaign_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    status TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS contacts (
    campaign_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    phone_number TEXT NOT NULL,
    phone_key TEXT NOT NULL,
    tz TEXT NOT NULL,
    variables TEXT NOT NULL,
    calling_hours TEXT,
    state TEXT NOT NULL,
    result TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at TEXT NOT NULL,
    claim_id TEXT,
    call_id TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (campaign_id, seq)
);
CREATE INDEX IF NOT EXISTS contacts_due ON contacts (campaign_id, state, due_at, seq);
CREATE INDEX IF NOT EXISTS contacts_claim ON contacts (campaign_id, claim_id);
CREATE TABLE IF NOT EXISTS attempts (
    campaign_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    call_id TEXT NOT NULL,
    dialled_at TEXT NOT NULL,
    ended_at TEXT,
    outcome TEXT,
    PRIMARY KEY (campaign_id, seq, attempt)
);
CREATE TABLE IF NOT EXISTS do_not_call (
    phone_key TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    campaign_id TEXT,
    added_at TEXT NOT NULL
);
"""

# Due contacts read per query while claiming (those outside their hours are put off and skipped).
_PAGE = 200


class CampaignRecord(BaseModel):
    """A stored campaign: everything but its contacts."""

    model_config = ConfigDict(extra="forbid")

    campaign_id: str
    name: str
    created_at: datetime
    status: CampaignStatus
    # The call template merged over the configured defaults (a `CallInitiate` without number).
    base_call: dict[str, object]
    template: CallTemplate
    concurrency: int
    starts_per_second: float | None
    calling_hours: CallingWindow | None
    retry: RetryRules
    total: int
    finished_at: datetime | None = None
    # Its own webhook endpoint beside the deployment's (`domain/webhooks.py`: no credential).
    webhook_url: str | None = None


class NewContact(BaseModel):
    phone_number: str
    phone_key: str
    tz: str
    variables: dict[str, str]
    calling_hours: CallingWindow | None


class ClaimedContact(BaseModel):
    seq: int
    attempt: int
    call_id: str
    phone_number: str
    phone_key: str
    variables: dict[str, str]


class Attempt(BaseModel):
    seq: int
    attempt: int
    call_id: str
    dialled_at: datetime
    ended_at: datetime | None
    outcome: str | None


class ContactView(BaseModel):
    """A contact as the API and the report show it (the number masked by the caller)."""

    seq: int
    phone_number: str
    state: ContactState
    result: ContactResult | None
    attempts: int
    due_at: datetime
    call_id: str | None


class RecordedAttempt(BaseModel):
    result: ContactResult | None
    retry_at: datetime | None


def _text(moment: datetime) -> str:
    return sort_key(moment)


def _time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


_INSERT_CONTACT = (
    "INSERT INTO contacts (campaign_id, seq, phone_number, phone_key, tz, variables,"
    " calling_hours, state, due_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)"
)


def _contact_rows(
    campaign_id: str, contacts: list[NewContact], now: datetime, first: int
) -> list[tuple[object, ...]]:
    """Rows of new contacts, due at once (their calling hours are checked when dialled)."""
    at = _text(now)
    return [
        (
            campaign_id,
            first + index,
            c.phone_number,
            c.phone_key,
            c.tz,
            json.dumps(c.variables, ensure_ascii=False),
            c.calling_hours.model_dump_json() if c.calling_hours else None,
            ContactState.PENDING.value,
            at,
            at,
        )
        for index, c in enumerate(contacts)
    ]


class CampaignStore:
    """`open()` once, then share: one aiosqlite connection; multi-statement changes hold a
    lock and one `BEGIN IMMEDIATE` transaction (the API and the workers write the same file)."""

    def __init__(self, path: str | Path) -> None:
        self._path = path
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> CampaignStore:
        if self._db is not None:
            return self
        self._db = await open_database(self._path, _SCHEMA)
        return self

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("CampaignStore.open() was not awaited")
        return self._db

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._lock:
            db = self.db
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")

    # --- campaigns ----------------------------------------------------------------------------

    async def create(self, campaign: CampaignRecord, contacts: list[NewContact]) -> None:
        """The campaign and all its contacts, due at once (their hours are checked at dial)."""
        rows = _contact_rows(campaign.campaign_id, contacts, campaign.created_at, 0)
        async with self._transaction() as db:
            await db.execute(
                "INSERT INTO campaigns (campaign_id, created_at, status, doc) VALUES (?, ?, ?, ?)",
                (
                    campaign.campaign_id,
                    _text(campaign.created_at),
                    campaign.status.value,
                    campaign.model_dump_json(),
                ),
            )
            await db.executemany(_INSERT_CONTACT, rows)

    async def add_contacts(
        self, campaign_id: str, contacts: list[NewContact], now: datetime
    ) -> int:
        """Append contacts (numbered after the last one); returns the campaign's total."""
        async with self._transaction() as db:
            async with db.execute(
                "SELECT doc FROM campaigns WHERE campaign_id = ?", (campaign_id,)
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                raise LookupError(f"no campaign {campaign_id}")
            record = CampaignRecord.model_validate_json(row[0])
            await db.executemany(
                _INSERT_CONTACT, _contact_rows(campaign_id, contacts, now, record.total)
            )
            record = record.model_copy(update={"total": record.total + len(contacts)})
            await db.execute(
                "UPDATE campaigns SET doc = ? WHERE campaign_id = ?",
                (record.model_dump_json(), campaign_id),
            )
            return record.total

    async def get(self, campaign_id: str) -> CampaignRecord | None:
        async with self.db.execute(
            "SELECT doc FROM campaigns WHERE campaign_id = ?", (campaign_id,)
        ) as cursor:
            row = await cursor.fetchone()
        return CampaignRecord.model_validate_json(row[0]) if row else None

    async def recent(self, limit: int = 50) -> list[CampaignRecord]:
        async with self.db.execute(
            "SELECT doc FROM campaigns ORDER BY created_at DESC LIMIT ?", (limit,)
        ) as cursor:
            rows = await cursor.fetchall()
        return [CampaignRecord.model_validate_json(r[0]) for r in rows]

    async def set_status(
        self, campaign_id: str, status: CampaignStatus, finished_at: datetime | None = None
    ) -> CampaignRecord | None:
        async with self._transaction() as db:
            async with db.execute(
                "SELECT doc FROM campaigns WHERE campaign_id = ?", (campaign_id,)
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return None
            record = CampaignRecord.model_validate_json(row[0])
            final = record.status in (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED)
            if final:
                return record  # a late pause or resume does not reopen a finished campaign
            record = record.model_copy(update={"status": status, "finished_at": finished_at})
            await db.execute(
                "UPDATE campaigns SET status = ?, doc = ? WHERE campaign_id = ?",
                (status.value, record.model_dump_json(), campaign_id),
            )
            return record

    # --- dialling -----------------------------------------------------------------------------

    async def claim(
        self,
        campaign: CampaignRecord,
        claim_id: str,
        now: datetime,
        limit: int,
        deployment_hours: CallingWindow | None,
    ) -> list[ClaimedContact]:
        """Up to `limit` due contacts inside their calling hours, marked dialling with a new
        attempt. Contacts on the do-not-call list are closed as such; those outside their hours
        are put off to their next opening. The same `claim_id` returns the same contacts."""
        cid = campaign.campaign_id
        async with self._transaction() as db:
            claimed = await self._claimed(db, cid, claim_id)
            if claimed:
                return claimed
            while len(claimed) < limit:
                async with db.execute(
                    "SELECT seq, phone_number, phone_key, tz, variables, calling_hours, attempts"
                    " FROM contacts WHERE campaign_id = ? AND state = 'pending' AND due_at <= ?"
                    " ORDER BY due_at, seq LIMIT ?",
                    (cid, _text(now), _PAGE),
                ) as cursor:
                    rows = list(await cursor.fetchall())
                if not rows:
                    break
                for seq, number, key, tz_name, variables, hours, attempts in rows:
                    if len(claimed) >= limit:
                        break
                    if await self._on_do_not_call(db, key):
                        await self._close(db, cid, seq, ContactResult.DO_NOT_CALL, now)
                        continue
                    own = CallingWindow.model_validate_json(hours) if hours else None
                    window = effective(own, campaign.calling_hours, deployment_hours)
                    tz = zone(tz_name)
                    if window is not None and not is_open(now, window, tz):
                        try:
                            opens = next_open(now, window, tz)
                        except NeverOpen:
                            await self._close(db, cid, seq, ContactResult.NEVER_OPEN, now)
                            continue
                        await db.execute(
                            "UPDATE contacts SET due_at = ?, updated_at = ?"
                            " WHERE campaign_id = ? AND seq = ?",
                            (_text(opens), _text(now), cid, seq),
                        )
                        continue
                    attempt = attempts + 1
                    call_id = call_id_for(cid, seq, attempt)
                    await db.execute(
                        "UPDATE contacts SET state = 'dialling', attempts = ?, claim_id = ?,"
                        " call_id = ?, updated_at = ? WHERE campaign_id = ? AND seq = ?",
                        (attempt, claim_id, call_id, _text(now), cid, seq),
                    )
                    await db.execute(
                        "INSERT OR IGNORE INTO attempts (campaign_id, seq, attempt, call_id,"
                        " dialled_at) VALUES (?, ?, ?, ?, ?)",
                        (cid, seq, attempt, call_id, _text(now)),
                    )
                    claimed.append(
                        ClaimedContact(
                            seq=seq,
                            attempt=attempt,
                            call_id=call_id,
                            phone_number=number,
                            phone_key=key,
                            variables=json.loads(variables),
                        )
                    )
            return claimed

    async def _claimed(
        self, db: aiosqlite.Connection, campaign_id: str, claim_id: str
    ) -> list[ClaimedContact]:
        async with db.execute(
            "SELECT seq, attempts, call_id, phone_number, phone_key, variables FROM contacts"
            " WHERE campaign_id = ? AND claim_id = ? AND state = 'dialling' ORDER BY seq",
            (campaign_id, claim_id),
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            ClaimedContact(
                seq=seq,
                attempt=attempt,
                call_id=call_id,
                phone_number=number,
                phone_key=key,
                variables=json.loads(variables),
            )
            for seq, attempt, call_id, number, key, variables in rows
        ]

    async def _on_do_not_call(self, db: aiosqlite.Connection, phone_key: str) -> bool:
        async with db.execute(
            "SELECT 1 FROM do_not_call WHERE phone_key = ?", (phone_key,)
        ) as cursor:
            return await cursor.fetchone() is not None

    async def _close(
        self,
        db: aiosqlite.Connection,
        campaign_id: str,
        seq: int,
        result: ContactResult,
        now: datetime,
    ) -> None:
        await db.execute(
            "UPDATE contacts SET state = 'done', result = ?, updated_at = ?"
            " WHERE campaign_id = ? AND seq = ?",
            (result.value, _text(now), campaign_id, seq),
        )

    async def record(
        self,
        campaign_id: str,
        seq: int,
        attempt: int,
        outcome: CallOutcome,
        now: datetime,
        retry_delay: Callable[[CallOutcome, int], float | None],
        do_not_call: bool,
    ) -> RecordedAttempt:
        """How an attempt ended: the contact is done, or pending again for its retry. Recording
        the same attempt again changes nothing and returns the first answer."""
        async with self._transaction() as db:
            async with db.execute(
                "SELECT state, result, attempts, due_at, phone_key FROM contacts"
                " WHERE campaign_id = ? AND seq = ?",
                (campaign_id, seq),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                raise LookupError(f"campaign {campaign_id} has no contact {seq}")
            state, result, attempts, due_at, phone_key = row
            if attempts != attempt or state != ContactState.DIALLING:
                # Already recorded (a retried activity): the contact moved on.
                done = ContactResult(result) if result else None
                return RecordedAttempt(result=done, retry_at=None if done else _time(due_at))
            await db.execute(
                "UPDATE attempts SET ended_at = ?, outcome = ?"
                " WHERE campaign_id = ? AND seq = ? AND attempt = ?",
                (_text(now), outcome.value, campaign_id, seq, attempt),
            )
            if do_not_call:
                await db.execute(
                    "INSERT OR IGNORE INTO do_not_call (phone_key, reason, campaign_id, added_at)"
                    " VALUES (?, 'asked during a call', ?, ?)",
                    (phone_key, campaign_id, _text(now)),
                )
                await self._close(db, campaign_id, seq, ContactResult.DO_NOT_CALL, now)
                return RecordedAttempt(result=ContactResult.DO_NOT_CALL, retry_at=None)
            delay = retry_delay(outcome, attempt)
            if delay is None:
                final = ContactResult(outcome.value)
                await self._close(db, campaign_id, seq, final, now)
                return RecordedAttempt(result=final, retry_at=None)
            retry_at = now + timedelta(seconds=delay)
            await db.execute(
                "UPDATE contacts SET state = 'pending', due_at = ?, claim_id = NULL,"
                " updated_at = ? WHERE campaign_id = ? AND seq = ?",
                (_text(retry_at), _text(now), campaign_id, seq),
            )
            return RecordedAttempt(result=None, retry_at=retry_at)

    async def cancel_pending(self, campaign_id: str, now: datetime) -> int:
        async with self._transaction() as db:
            cursor = await db.execute(
                "UPDATE contacts SET state = 'done', result = 'cancelled', updated_at = ?"
                " WHERE campaign_id = ? AND state = 'pending'",
                (_text(now), campaign_id),
            )
            return cursor.rowcount

    async def next_due(self, campaign_id: str) -> datetime | None:
        async with self.db.execute(
            "SELECT MIN(due_at) FROM contacts WHERE campaign_id = ? AND state = 'pending'",
            (campaign_id,),
        ) as cursor:
            row = await cursor.fetchone()
        return _time(row[0]) if row and row[0] else None

    async def counts(self, campaign_id: str) -> tuple[dict[str, int], dict[str, int]]:
        """Contacts by state, and finished contacts by result."""
        async with self.db.execute(
            "SELECT state, result, COUNT(*) FROM contacts WHERE campaign_id = ?"
            " GROUP BY state, result",
            (campaign_id,),
        ) as cursor:
            rows = await cursor.fetchall()
        states: dict[str, int] = {}
        results: dict[str, int] = {}
        for state, result, count in rows:
            states[state] = states.get(state, 0) + count
            if result is not None:
                results[result] = results.get(result, 0) + count
        return states, results

    async def attempts(self, campaign_id: str) -> list[Attempt]:
        async with self.db.execute(
            "SELECT seq, attempt, call_id, dialled_at, ended_at, outcome FROM attempts"
            " WHERE campaign_id = ? ORDER BY dialled_at, seq",
            (campaign_id,),
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            Attempt(
                seq=seq,
                attempt=attempt,
                call_id=call_id,
                dialled_at=_time(dialled),
                ended_at=_time(ended) if ended else None,
                outcome=outcome,
            )
            for seq, attempt, call_id, dialled, ended, outcome in rows
        ]

    async def contacts(
        self, campaign_id: str, *, after: int = -1, limit: int = 100
    ) -> list[ContactView]:
        async with self.db.execute(
            "SELECT seq, phone_number, state, result, attempts, due_at, call_id FROM contacts"
            " WHERE campaign_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (campaign_id, after, limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [
            ContactView(
                seq=seq,
                phone_number=number,
                state=ContactState(state),
                result=ContactResult(result) if result else None,
                attempts=attempts,
                due_at=_time(due),
                call_id=call_id,
            )
            for seq, number, state, result, attempts, due, call_id in rows
        ]

    # --- do not call --------------------------------------------------------------------------

    async def add_do_not_call(
        self, phone_keys: list[str], reason: str, campaign_id: str | None, now: datetime
    ) -> None:
        async with self._transaction() as db:
            await db.executemany(
                "INSERT OR IGNORE INTO do_not_call (phone_key, reason, campaign_id, added_at)"
                " VALUES (?, ?, ?, ?)",
                [(key, reason, campaign_id, _text(now)) for key in phone_keys],
            )

    async def on_do_not_call(self, phone_key: str) -> bool:
        return await self._on_do_not_call(self.db, phone_key)
