"""`callcenter chat`: a text conversation with a new call, through the HTTP API.

Like the reference's local test: no phone, the same workflow, tools and LLM as a real call.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx

from core.settings import get_settings

# A turn is resent (same turn id) while the API answers these, or nothing.
RESEND_STATUSES = frozenset({502, 503, 504})
RESENDS = 10


async def chat(api: str | None, phone_number: str, api_key: str | None) -> int:
    settings = get_settings()
    base = api or f"http://{settings.api.host}:{settings.api.port}"
    headers = {settings.api.key_header: api_key} if api_key else {}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as client:
        created = await client.post("/call", json={"phone_number": phone_number})
        if created.status_code != 201:
            print(f"cannot start a call: {created.status_code} {created.text}")
            return 1
        call = created.json()
        print(f"call {call['call_id']}\nTemporal UI: {call['temporal_ui_url']}\n")
        state = await _state(client, call["call_id"])
        turn_id = int(state.get("last_turn_id") or 0)
        greeting = [m for m in state["messages"] if m["persona"] == "assistant"]
        if greeting:
            print(f"bot> {greeting[-1]['content']}")
        while True:
            try:
                text = await asyncio.to_thread(input, "you> ")
            except EOFError:
                break
            if text.strip().lower() in {"quit", "exit"}:
                break
            if not text.strip():
                continue
            turn_id += 1
            reply = await send_turn(client, call["call_id"], text, turn_id)
            if reply is None or reply.status_code != 200:
                print(f"error: {describe(reply)}")
                with contextlib.suppress(httpx.HTTPError):  # numbered from what the call applied
                    turn_id = int((await _state(client, call["call_id"]))["last_turn_id"])
                continue
            body = reply.json()
            print(f"bot> {body['text'] or '(no answer)'}")
            if body["tool_calls"]:
                print(f"     tools: {', '.join(body['tool_calls'])}")
            state = await _state(client, call["call_id"])
            filled = {k: v for k, v in state["claim"].items() if v}
            print(f"     claim: {filled}")
            if body["ended"]:
                print("call ended")
                break
    return 0


async def send_turn(
    client: httpx.AsyncClient, call_id: str, text: str, turn_id: int, attempts: int = RESENDS
) -> httpx.Response | None:
    """POST one turn, resent with the same `turn_id` while the API cannot answer: the API
    applies a turn id once, so a resend returns the first outcome instead of a second turn.
    None when no answer came at all."""
    reply: httpx.Response | None = None
    for attempt in range(attempts):
        try:
            reply = await client.post(
                f"/call/{call_id}/messages", json={"text": text, "turn_id": turn_id}
            )
        except httpx.TransportError:
            reply = None  # the API is down or restarting: the same turn is sent again
        else:
            if reply.status_code not in RESEND_STATUSES:
                return reply
        if attempt + 1 < attempts:
            await asyncio.sleep(_retry_after(reply))
    return reply


def describe(reply: httpx.Response | None) -> str:
    """The API's error message, whatever the body (a proxy may answer text/plain)."""
    if reply is None:
        return "the API did not answer"
    try:
        return f"{reply.status_code} {reply.json()['error']['message']}"
    except (ValueError, KeyError, TypeError):
        return f"{reply.status_code} {reply.text[:200]}"


def _retry_after(reply: httpx.Response | None) -> float:
    try:
        return min(float(reply.headers.get("retry-after", "")), 30.0) if reply else 1.0
    except ValueError:
        return 1.0


async def _state(client: httpx.AsyncClient, call_id: str) -> dict[str, Any]:
    response = await client.get(f"/call/{call_id}")
    response.raise_for_status()
    call: dict[str, Any] = response.json()["call"]
    return call
