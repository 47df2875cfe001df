"""Persisting the call state after every turn."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.contracts import SaveCallInput
from providers.store.base import CallStore


class StoreActivities:
    def __init__(self, store: CallStore) -> None:
        self._store = store

    @activity.defn(name="save_call")
    async def save_call(self, input: SaveCallInput) -> None:
        """Store the call; with `messages_from`, after the stored messages before that index.

        Raises:
            ApplicationError: (`StoreBehind`, not retried) the store holds fewer messages than
                `messages_from`: the workflow saves the whole state instead.
        """
        call = input.call
        if input.messages_from > 0:
            stored = await self._store.get(call.call_id)
            if stored is None or len(stored.messages) < input.messages_from:
                raise ApplicationError(
                    f"the store holds {0 if stored is None else len(stored.messages)} messages "
                    f"of this call, the save builds on {input.messages_from}",
                    type="StoreBehind",
                    non_retryable=True,
                )
            kept = stored.messages[: input.messages_from]
            call = call.model_copy(update={"messages": [*kept, *call.messages]})
        await self._store.save(call)
