"""`list_created_between` on both call stores (the contract tests' fixtures: SQLite and the
local Cosmos DB server)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from providers.store.base import CallStore
from tests.store.test_store_contract import CALLER, OTHER, T0, cosmos_server, make_call, store

__all__ = ["cosmos_server", "store"]  # fixtures used by name


async def test_lists_calls_of_every_number_in_the_range_newest_first(store: CallStore) -> None:
    before = make_call(CALLER, T0 - timedelta(microseconds=1))
    first = make_call(CALLER, T0)  # the start is included
    second = make_call(OTHER, T0 + timedelta(hours=5))
    third = make_call(CALLER, T0 + timedelta(days=1) - timedelta(microseconds=1))
    at_end = make_call(OTHER, T0 + timedelta(days=1))  # the end is excluded
    for call in (before, first, second, third, at_end):
        await store.save(call)

    page = await store.list_created_between(T0, T0 + timedelta(days=1))

    assert [c.call_id for c in page.calls] == [third.call_id, second.call_id, first.call_id]
    assert page.next_cursor is None


async def test_a_capped_range_says_so(store: CallStore) -> None:
    calls = [make_call(CALLER, T0 + timedelta(minutes=i)) for i in range(4)]
    for call in calls:
        await store.save(call)

    capped = await store.list_created_between(T0, T0 + timedelta(hours=1), limit=3)
    exact = await store.list_created_between(T0, T0 + timedelta(hours=1), limit=4)

    assert [c.call_id for c in capped.calls] == [c.call_id for c in calls[:0:-1]]
    assert capped.next_cursor is not None
    assert len(exact.calls) == 4 and exact.next_cursor is None
    with pytest.raises(ValueError, match="limit"):
        await store.list_created_between(T0, T0 + timedelta(hours=1), limit=0)
