"""Call store on Azure Cosmos DB (NoSQL API): the production backend."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from azure.core.exceptions import AzureError
from azure.cosmos import PartitionKey
from azure.cosmos.aio import CosmosClient
from pydantic import SecretStr

from domain.call import CallState
from providers.store.base import CallPage, Cursor, StoreUnavailable, check_limit, page_of, sort_key

PARTITION_KEY_PATH = "/initiate/phone_number"

# Sorting on two fields needs a composite index on real Cosmos DB (the test server ignores it).
# Typed Any because the SDK annotates indexing_policy as dict[str, str], which it is not.
_INDEXING_POLICY: dict[str, Any] = {
    "compositeIndexes": [
        [
            {"path": "/created_at", "order": "descending"},
            {"path": "/id", "order": "descending"},
        ]
    ]
}

# Only the query subset the local test server also parses: no OFFSET/LIMIT, no STRINGEQUALS.
_FOR_PHONE = "(c.initiate.phone_number = @phone OR c.claim.policyholder_phone = @phone)"
_NEWEST_FIRST = "ORDER BY c.created_at DESC, c.id DESC"


class CosmosCallStore:
    """`CallStore` on a Cosmos DB container partitioned by the call's phone number.

    Each call is one item whose `id` is the call id; `created_at` is stored as fixed-format UTC
    text so it sorts as a string. Call ids must not contain `/`, `\\`, `?` or `#` (Cosmos ids),
    and a call's `initiate.phone_number` must never change: it is the partition key, so saving
    the call under another number would leave a second item behind.
    `await store.open()` creates the database and container when missing; the other methods
    work without it once they exist.

    Args:
        endpoint: Account URL, e.g. `https://<account>.documents.azure.com:443/`.
        key: Account key.
        database: Database name.
        container: Container name.
        enable_endpoint_discovery: Follow the account's regional endpoints; turn off for a
            local server over plain http.
        connection_verify: Verify the TLS certificate.
        timeout_s: Per-request connection timeout, and the deadline of `ping`.
        retry_total: Retries on connection errors; None keeps the SDK default.
    """

    def __init__(
        self,
        endpoint: str,
        key: SecretStr | str,
        database: str,
        container: str,
        *,
        enable_endpoint_discovery: bool = True,
        connection_verify: bool = True,
        timeout_s: float = 10.0,
        retry_total: int | None = None,
    ) -> None:
        options: dict[str, Any] = {}
        if retry_total is not None:
            options |= {"retry_total": retry_total, "retry_connect": retry_total}
        secret = key.get_secret_value() if isinstance(key, SecretStr) else key
        self._client = CosmosClient(
            endpoint,
            credential=secret,
            enable_endpoint_discovery=enable_endpoint_discovery,
            connection_verify=connection_verify,
            connection_timeout=timeout_s,
            **options,
        )
        self._database_name = database
        self._container_name = container
        self._container = self._client.get_database_client(database).get_container_client(container)
        self._timeout_s = timeout_s

    async def open(self) -> None:
        """Creates the database and the container when they do not exist."""
        database = await self._client.create_database_if_not_exists(self._database_name)
        self._container = await database.create_container_if_not_exists(
            self._container_name,
            partition_key=PartitionKey(path=PARTITION_KEY_PATH),
            indexing_policy=_INDEXING_POLICY,
        )

    async def save(self, call: CallState) -> None:
        """Inserts the call or replaces its whole stored document."""
        document = call.model_dump(mode="json")
        document["id"] = call.call_id
        document["created_at"] = sort_key(call.created_at)
        await self._container.upsert_item(document)

    async def get(self, call_id: str) -> CallState | None:
        """Returns the stored call, or None when there is none with that id."""
        # The partition (phone number) is unknown here, hence a cross-partition query.
        calls = await self._query("SELECT * FROM c WHERE c.id = @id", {"@id": call_id})
        return calls[0] if calls else None

    async def latest_for_phone(self, phone_number: str, *, since: datetime) -> CallState | None:
        """Returns the newest call of that number created at or after `since`."""
        calls = await self._query(
            f"SELECT TOP 1 * FROM c WHERE {_FOR_PHONE} AND c.created_at >= @since {_NEWEST_FIRST}",
            {"@phone": phone_number, "@since": sort_key(since)},
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
        params: dict[str, str | int] = {"@phone": phone_number, "@top": limit + 1}
        after = ""
        if cursor is not None:
            position = Cursor.decode(cursor)
            after = "AND (c.created_at < @at OR (c.created_at = @at AND c.id < @id))"
            params |= {"@at": position.created_at, "@id": position.call_id}
        calls = await self._query(
            f"SELECT TOP @top * FROM c WHERE {_FOR_PHONE} {after} {_NEWEST_FIRST}", params
        )
        return page_of(calls, limit)

    async def list_created_between(
        self, start: datetime, end: datetime, *, limit: int = 1_000
    ) -> CallPage:
        """Returns up to `limit` calls created in [`start`, `end`), newest first (a
        cross-partition query: analytics read every number).

        Raises:
            ValueError: `limit` is below 1.
        """
        check_limit(limit)
        calls = await self._query(
            "SELECT TOP @top * FROM c WHERE c.created_at >= @start AND c.created_at < @end "
            f"{_NEWEST_FIRST}",
            {"@start": sort_key(start), "@end": sort_key(end), "@top": limit + 1},
        )
        return page_of(calls, limit)

    async def ping(self) -> None:
        """Reads the container's properties.

        Raises:
            StoreUnavailable: The account does not answer in time, or the container is missing.
        """
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._container.read()
        except (AzureError, OSError, TimeoutError) as exc:
            raise StoreUnavailable(f"Cosmos DB call store failed: {exc}") from exc

    async def close(self) -> None:
        """Closes the client's HTTP session."""
        await self._client.close()

    async def _query(self, query: str, params: dict[str, str | int]) -> list[CallState]:
        parameters: list[dict[str, object]] = [
            {"name": name, "value": value} for name, value in params.items()
        ]
        items = self._container.query_items(query, parameters=parameters)
        return [_to_call(item) async for item in items]


def _to_call(item: dict[str, Any]) -> CallState:
    # Cosmos adds `id` and system fields (`_rid`, `_etag`, `_ts`, ...) that CallState lacks.
    return CallState.model_validate(
        {key: value for key, value in item.items() if key != "id" and not key.startswith("_")}
    )
