"""Persisting the call state after every turn."""

from __future__ import annotations

from temporalio import activity

from domain.contracts import SaveCallInput
from providers.store.base import CallStore


class StoreActivities:
    def __init__(self, store: CallStore) -> None:
        self._store = store

    @activity.defn(name="save_call")
    async def save_call(self, input: SaveCallInput) -> None:
        await self._store.save(input.call)
