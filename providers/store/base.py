"""Call store contract shared by the SQLite and Cosmos DB backends, and their common helpers."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

from domain.call import CallState

# Fixed width, always UTC and always with microseconds, so that comparing the strings compares
# the instants: both backends sort and filter on this text.
SORT_KEY_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

# Where the callback look-ups find a customer who calls from another phone.
POLICYHOLDER_PHONE = "policyholder_phone"


class StoreUnavailable(Exception):
    """The backend does not answer."""


class CallPage(BaseModel):
    """One page of calls, newest first."""

    model_config = ConfigDict(frozen=True)

    calls: list[CallState]
    next_cursor: str | None  # opaque; None on the last page


class CallStore(Protocol):
    """Keeps the state of every call as one document, keyed by call id."""

    async def save(self, call: CallState) -> None:
        """Inserts the call or replaces its whole stored document."""
        ...

    async def get(self, call_id: str) -> CallState | None:
        """Returns the stored call, or None when there is none with that id."""
        ...

    async def latest_for_phone(self, phone_number: str, *, since: datetime) -> CallState | None:
        """Returns the newest call of that number (E.164) created at or after `since`.

        A call matches through its `initiate.phone_number` or its claim's `policyholder_phone`.
        """
        ...

    async def list_for_phone(
        self, phone_number: str, *, limit: int = 20, cursor: str | None = None
    ) -> CallPage:
        """Returns the calls of that number (matched as in `latest_for_phone`), newest first.

        Raises:
            ValueError: `cursor` is not one this store handed out, or `limit` is below 1.
        """
        ...

    async def list_created_between(
        self, start: datetime, end: datetime, *, limit: int = 1_000
    ) -> CallPage:
        """Returns up to `limit` calls created in [`start`, `end`), newest first, across all
        numbers (reports and analytics). A `next_cursor` on the page only says more calls
        matched than `limit` (the list is capped); it is not meant to be followed.

        Raises:
            ValueError: `limit` is below 1.
        """
        ...

    async def ping(self) -> None:
        """Checks the backend answers (readiness probe).

        Raises:
            StoreUnavailable: The backend does not answer.
        """
        ...

    async def close(self) -> None:
        """Releases connections."""
        ...


def sort_key(moment: datetime) -> str:
    """The instant as fixed-format UTC text; a naive value is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(SORT_KEY_FORMAT)


def policyholder_phone(call: CallState) -> str | None:
    """The phone number the customer gave in the claim, if any."""
    return call.claim.get(POLICYHOLDER_PHONE)


class Cursor(BaseModel):
    """Keyset position: the sort key and call id of the last call of the previous page."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    created_at: str
    call_id: str

    @classmethod
    def after(cls, call: CallState) -> Cursor:
        return cls(created_at=sort_key(call.created_at), call_id=call.call_id)

    def encode(self) -> str:
        raw = json.dumps([self.created_at, self.call_id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """Parses a token from `encode`.

        Raises:
            ValueError: The token is malformed.
        """
        try:
            padded = token + "=" * (-len(token) % 4)
            raw = base64.b64decode(padded, altchars=b"-_", validate=True)
            created_at, call_id = json.loads(raw)
            cursor = cls(created_at=created_at, call_id=call_id)
            datetime.strptime(cursor.created_at, SORT_KEY_FORMAT)  # rejects forged sort keys
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, ValidationError):
            raise ValueError("invalid cursor") from None
        return cursor


def check_limit(limit: int) -> None:
    """Raises ValueError unless `limit` is a usable page size."""
    if limit < 1:
        raise ValueError("limit must be at least 1")


def page_of(calls: list[CallState], limit: int) -> CallPage:
    """Builds a page from up to `limit + 1` calls; the extra one only tells a next page exists."""
    if len(calls) <= limit:
        return CallPage(calls=calls, next_cursor=None)
    page = calls[:limit]
    return CallPage(calls=page, next_cursor=Cursor.after(page[-1]).encode())
