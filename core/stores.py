"""Opening the configured call store and document search (shared by the worker and the API)."""

from __future__ import annotations

from core.settings import SearchSettings, StoreSettings
from providers.search.base import DocumentSearch
from providers.store.base import CallStore


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
