"""Running a campaign through the whole phone stack (API, worker, ACS emulator, media gateway)
and reading back what happened: shared by the tests and `bench/campaign.py`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from acs_emulator.client import EmulatorClient
from acs_emulator.models import CallRecord
from activities.campaign_store import Attempt, CampaignStore
from core.settings import Settings

# A page of contacts fits the API's 64 KiB request cap.
PAGE = 200


@dataclass
class PhonePlan:
    """How one simulated phone treats the campaign's calls."""

    number: str
    answer: str  # the emulator's answer mode ("auto", "never", "busy", "reject", "voicemail")
    says: str | None = None  # what an answering person says before hanging up


async def create_campaign(api: Any, contacts: list[dict[str, Any]], **body: Any) -> str:
    """`POST /campaigns` paused with the first page, the rest in pages, then resume."""
    first, rest = contacts[:PAGE], contacts[PAGE:]
    response = await api.post(
        "/campaigns", json={"contacts": first, "paused": bool(rest) or body.pop("paused", False),
                            **body},
    )  # fmt: skip
    assert response.status_code == 201, response.text
    campaign_id: str = response.json()["campaign_id"]
    for start in range(0, len(rest), PAGE):
        page = rest[start : start + PAGE]
        added = await api.post(f"/campaigns/{campaign_id}/contacts", json={"contacts": page})
        assert added.status_code == 200, added.text
    if rest:
        resumed = await api.post(f"/campaigns/{campaign_id}/resume")
        assert resumed.status_code == 202, resumed.text
    return campaign_id


@contextlib.asynccontextmanager
async def answering_people(
    phones: EmulatorClient, api: Any, plans: dict[str, PhonePlan], every: float = 0.2
) -> AsyncIterator[set[str]]:
    """People who answer: once connected, say their line (if any) and hang up. Yields the
    connection ids handled."""
    handled: set[str] = set()

    async def loop() -> None:
        while True:
            for record in await phones.calls():
                if record.state != "connected" or record.connection_id in handled:
                    continue
                handled.add(record.connection_id)
                plan = plans.get(record.phone_number)
                if plan is not None and plan.says:
                    await say_and_hang_up(phones, api, record, plan.says)
                else:
                    await phones.hang_up(record.connection_id)
            await asyncio.sleep(every)

    task = asyncio.create_task(loop())
    try:
        yield handled
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def say_and_hang_up(phones: EmulatorClient, api: Any, record: CallRecord, text: str) -> None:
    """The callee's words reach the call as a turn (the chat route of the same workflow), then
    they hang up."""
    call_id = _call_id(record)
    if call_id is not None:
        await api.post(f"/call/{call_id}/messages", json={"text": text})
    await phones.hang_up(record.connection_id)


def _call_id(record: CallRecord) -> str | None:
    uri = record.callback_uri or ""
    marker = "/callback/"
    if marker not in uri:
        return None
    return uri.split(marker, 1)[1].split("/", 1)[0]


async def wait_finished(api: Any, campaign_id: str, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            response = await api.get(f"/campaigns/{campaign_id}")
        except httpx.HTTPError:
            response = None  # a loaded server: ask again
        if response is not None and response.status_code == 200:
            view: dict[str, Any] = response.json()
            if view["status"] in ("completed", "cancelled"):
                return view
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"campaign {campaign_id} not finished in {timeout} s")
        await asyncio.sleep(0.25)


async def attempts_of(settings: Settings, campaign_id: str) -> list[Attempt]:
    store = await CampaignStore(settings.campaigns.path(settings.store)).open()
    try:
        return await store.attempts(campaign_id)
    finally:
        await store.close()


def max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    """The most intervals open at one instant (an end at the same instant as a start first)."""
    events = [(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals]
    events.sort(key=lambda e: (e[0], e[1]))
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def phone_intervals(records: list[CallRecord]) -> list[tuple[datetime, datetime]]:
    """When each call leg existed at the emulator, from creation to its end."""
    return [(r.created_at, r.ended_at) for r in records if r.ended_at is not None]
