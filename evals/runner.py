"""Play a scenario through the chat channel of the API, as any client would.

`POST /call` with the scenario's bot, task and claim schema; wait for the written greeting; then
each caller line is one `POST /call/{id}/messages` (numbered, so a resend after a 503 is never
applied twice), timed, followed by `GET /call/{id}` for the claim as it stands. The caller stops
after a line that hangs up or when the bot ends the call. The final `GET /call/{id}` is what
the metrics read. Nothing here knows how a turn is computed: only the API's answers count.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from evals.caller import ModelCaller
from evals.metrics import Played, Score, Turn, score
from evals.scenario import Line, Scenario

Hook = Callable[[str], Awaitable[None]]
GREETING_TIMEOUT_S = 60.0
CALLER_TIMEOUT_S = 300.0
RESENDS = 5  # a 503 (the call's workflow task being retried) is resent with the same turn id


class EvalError(RuntimeError):
    """The API refused the scenario's call (not a conversation fault: a broken set-up)."""


async def state(api: httpx.AsyncClient, call_id: str) -> dict[str, Any]:
    response = await api.get(f"/call/{call_id}")
    for _ in range(RESENDS):  # a loaded dev server answers 503 for a moment: ask again
        if response.status_code != 503:
            break
        await asyncio.sleep(1.0)
        response = await api.get(f"/call/{call_id}")
    if response.status_code != 200:
        raise EvalError(f"GET /call/{call_id}: {response.status_code} {response.text[:300]}")
    call: dict[str, Any] = response.json()["call"]
    return call


async def _greeting(api: httpx.AsyncClient, call_id: str) -> str:
    deadline = time.monotonic() + GREETING_TIMEOUT_S
    while time.monotonic() < deadline:
        call = await state(api, call_id)
        said = [m["content"] for m in call["messages"] if m["persona"] == "assistant"]
        if said:
            return " ".join(said)
        await asyncio.sleep(0.2)
    raise EvalError(f"call {call_id}: no greeting after {GREETING_TIMEOUT_S:.0f} s")


async def _send(api: httpx.AsyncClient, call_id: str, text: str, turn_id: int) -> httpx.Response:
    body = {"text": text, "turn_id": turn_id}
    response = await api.post(f"/call/{call_id}/messages", json=body)
    for _ in range(RESENDS):
        if response.status_code != 503:
            break
        await asyncio.sleep(0.5)
        response = await api.post(f"/call/{call_id}/messages", json=body)
    return response


async def play(
    api: httpx.AsyncClient,
    scenario: Scenario,
    *,
    before: Hook | None = None,
    caller: ModelCaller | None = None,
) -> Played:
    """Place the scenario's call, say its lines (or the `caller` model's), and return what the
    call recorded, with the lines said as the scenario's."""
    response = await api.post("/call", json=scenario.call_body())
    if response.status_code != 201:
        raise EvalError(f"POST /call: {response.status_code} {response.text[:300]}")
    call_id: str = response.json()["call_id"]
    greeting = await _greeting(api, call_id)
    if before is not None:
        await before(call_id)
    turns: list[Turn] = []
    lines: list[Line] = []
    bot_said = greeting
    async with httpx.AsyncClient(timeout=CALLER_TIMEOUT_S) as caller_http:
        for turn_id in itertools.count(1):
            if caller is None:
                if turn_id > len(scenario.caller.lines):
                    break
                line = scenario.caller.lines[turn_id - 1]
            else:
                if turn_id > caller.max_turns:
                    break
                said = await caller.next_line(caller_http, scenario, bot_said)
                line = caller.line(scenario, said, {n for x in lines for n in x.gives})
            lines.append(line)
            turn = await _turn(api, call_id, line.say, turn_id)
            turns.append(turn)
            bot_said = turn.reply
            if turn.error is not None and turn.error.startswith("409"):  # the call has ended
                break
            if turn.ended or line.hangs_up:
                break
    if caller is not None:
        voiced = scenario.caller.model_copy(update={"lines": lines})
        scenario = scenario.model_copy(update={"caller": voiced})
    return Played(scenario, greeting, turns, await state(api, call_id), call_id)


async def _turn(api: httpx.AsyncClient, call_id: str, text: str, turn_id: int) -> Turn:
    started = time.monotonic()
    reply = await _send(api, call_id, text, turn_id)
    latency = time.monotonic() - started
    claim = (await state(api, call_id)).get("claim") or {}
    if reply.status_code != 200:
        return Turn(text, "", [], latency, claim, error=f"{reply.status_code} {reply.text}")
    body = reply.json()
    return Turn(text, body["text"], body["tool_calls"], latency, claim, ended=body["ended"])


async def evaluate(
    api: httpx.AsyncClient,
    scenarios: list[Scenario],
    *,
    before: Hook | None = None,
    after: Hook | None = None,
    caller: Callable[[], ModelCaller] | None = None,
    progress: Callable[[Score, Played], None] | None = None,
) -> list[Score]:
    """Play the scenarios one after the other (a local model serves one request at a time);
    `after` runs once a scenario is scored, e.g. to stop the call's after-call work."""
    scores: list[Score] = []
    for scenario in scenarios:
        model = caller() if caller is not None else None
        played = await play(api, scenario, before=before, caller=model)
        result = score(played)
        scores.append(result)
        if progress is not None:
            progress(result, played)
        if after is not None:
            await after(played.call_id)
    return scores
