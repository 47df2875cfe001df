"""`callcenter calls NUMBER`: a number's calls in Temporal, found by the number's keyed hash.

`CallPhoneNumber` holds `temporal.codec.phone_key(number)`, never the number (search attributes
are stored and shown in plaintext): a search hashes the number with the same key first. The
Temporal UI link printed here filters on that hash; the UI itself cannot hash a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from temporalio.client import Client

from core.settings import TemporalSettings, get_settings
from core.temporal import connect
from domain.attributes import PHONE_NUMBER
from domain.phone import InvalidPhoneNumber, mask, to_e164


@dataclass(frozen=True)
class FoundCall:
    workflow_id: str
    status: str
    started: datetime


def phone_query(settings: TemporalSettings, number: str) -> str:
    """The visibility query for a number's calls (raises InvalidPhoneNumber)."""
    return f"{PHONE_NUMBER.name} = '{settings.codec.phone_key(to_e164(number))}'"


def ui_search_url(settings: TemporalSettings, query: str) -> str:
    base = settings.ui_url.rstrip("/")
    return f"{base}/namespaces/{settings.namespace}/workflows?query={quote(query)}"


async def find_calls(client: Client, settings: TemporalSettings, number: str) -> list[FoundCall]:
    found = []
    async for execution in client.list_workflows(phone_query(settings, number)):
        status = execution.status.name if execution.status is not None else "UNKNOWN"
        found.append(FoundCall(execution.id, status, execution.start_time))
    return sorted(found, key=lambda call: call.started, reverse=True)


async def calls_command(number: str) -> int:
    settings = get_settings().temporal
    try:
        e164 = to_e164(number)
    except InvalidPhoneNumber as exc:
        print(f"not a phone number: {exc}")
        return 2
    client = await connect(settings)
    calls = await find_calls(client, settings, e164)
    print(f"{len(calls)} call(s) of {mask(e164)} (newest first)")
    for call in calls:
        print(f"  {call.started:%Y-%m-%d %H:%M} {call.status:<11} {call.workflow_id}")
    print(f"in the Temporal UI: {ui_search_url(settings, phone_query(settings, e164))}")
    return 0
