"""`callcenter chat`: a text conversation with a new call, through the HTTP API.

Like the reference's local test: no phone, the same workflow, tools and LLM as a real call.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from core.settings import get_settings


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
            reply = await client.post(f"/call/{call['call_id']}/messages", json={"text": text})
            if reply.status_code != 200:
                print(f"error {reply.status_code}: {reply.json()['error']['message']}")
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


async def _state(client: httpx.AsyncClient, call_id: str) -> dict[str, Any]:
    response = await client.get(f"/call/{call_id}")
    response.raise_for_status()
    call: dict[str, Any] = response.json()["call"]
    return call
