"""Opening the configured call store, document search and Redis (worker, API and gateway)."""

from __future__ import annotations

from redis.asyncio import Redis

from core.settings import RedisSettings, SearchSettings, StoreSettings
from providers.search.base import DocumentSearch
from providers.store.base import CallStore


def open_redis(settings: RedisSettings) -> Redis:
    """A Redis client with the configured password and pool size (no connection yet)."""
    return Redis.from_url(
        settings.url,
        password=settings.password.get_secret_value() if settings.password else None,
        max_connections=settings.max_connections,
    )


async def open_store(settings: StoreSettings) -> CallStore:
    if settings.kind == "cosmos":
        from providers.store.cosmos import CosmosCallStore

        assert settings.cosmos is not None  # checked by StoreSettings
        cosmos = CosmosCallStore(
            settings.cosmos.endpoint,
            settings.cosmos.key,
            settings.cosmos.database,
            settings.cosmos.container,
        )
        await cosmos.open()
        return cosmos
    from providers.store.sqlite import SqliteCallStore

    settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
    sqlite = SqliteCallStore(settings.sqlite_path)
    await sqlite.open()
    return sqlite


def open_search(settings: SearchSettings) -> DocumentSearch:
    if settings.kind == "azure":
        from providers.search.azure import AzureAiSearch

        assert settings.azure is not None  # checked by SearchSettings
        return AzureAiSearch(
            settings.azure.endpoint,
            settings.azure.index,
            settings.azure.api_key,
            semantic_configuration=settings.azure.semantic_configuration,
        )
    from providers.search.sqlite_fts import SqliteFtsSearch

    return SqliteFtsSearch(settings.sqlite_path)
