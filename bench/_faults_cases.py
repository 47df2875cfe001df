"""The fault matrix on the chat channel: one case = one fault injected into a running call.

A trial places a chat call and sends two turns, each with its `turn_id`; a client resends a
failed turn with the same `turn_id` (every 0.3 s, up to `RESEND_FOR_S`), as a crash-proof client
must. The fault hits turn 1 while its answer streams (`mid`), or lands between the turns, just
before turn 2 is sent (`idle`). Then three records are compared:

- said: the turns the client sent;
- stored: the workflow's messages (`GET /call/{id}`), human and assistant, by `turn_id`;
- heard: the call's sentence stream as the `SentenceTail` saw it (what the phone would play),
  plus the replies the client received.

Counted per trial: turns lost (said but not stored, or no reply ever reached the client), turns
duplicated (stored more than once), sentences stored as said but never heard, sentences heard
twice, the seconds from the fault to the next sentence heard, and what was heard in between that
is not part of the answer (an apology, ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench._faults_stack import SENTENCES, FaultStack

RESEND_FOR_S = 60.0
TEMPORAL_DOWN_S = 2.0
REDIS_DOWN_S = 2.0
BLACK_HOLE_S = 4.0
MID_AFTER_SENTENCES = 3  # the fault lands once this many sentences of turn 1 were heard


@dataclass
class TurnOutcome:
    turn_id: int
    text: str
    reply: str | None = None
    attempts: int = 0
    errors: list[str] = field(default_factory=list)


async def send_turn(http: httpx.AsyncClient, call_id: str, turn_id: int) -> TurnOutcome:
    """POST one turn; resend it with the same `turn_id` until it is answered (or refused)."""
    outcome = TurnOutcome(turn_id, f"This is caller turn {turn_id} of call {call_id[:8]}.")
    deadline = time.monotonic() + RESEND_FOR_S
    while time.monotonic() < deadline:
        outcome.attempts += 1
        try:
            response = await http.post(
                f"/call/{call_id}/messages",
                json={"text": outcome.text, "turn_id": turn_id},
                timeout=30,
            )
        except httpx.HTTPError as exc:
            outcome.errors.append(type(exc).__name__)
            await asyncio.sleep(0.3)
            continue
        if response.status_code == 200:
            outcome.reply = str(response.json()["text"])
            return outcome
        outcome.errors.append(f"{response.status_code} {_error_text(response)}")
        if response.status_code in (404, 409, 422):
            return outcome  # refused for good: resending the same turn cannot succeed
        await asyncio.sleep(0.3)
    return outcome


def _error_text(response: httpx.Response) -> str:
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return str(response.json()["error"]["message"])[:80]
    return f"({response.headers.get('content-type', '?')}) {response.text[:60]}"


@dataclass
class Trial:
    """The measured outcome of one trial."""

    case: str
    lost: int = 0
    duplicated: int = 0
    unheard: int = 0
    heard_twice: int = 0
    gap_s: float | None = None  # fault -> next sentence heard
    between: list[str] = field(default_factory=list)
    restart_s: float = 0.0  # fault -> the killed service answers again (0: none restarted)
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.unheard or self.heard_twice)


Inject = Callable[[FaultStack, str], Coroutine[Any, Any, float]]  # returns the restart time


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    when: str  # "mid": while turn 1's answer streams; "idle": before turn 2 is sent
    inject: Inject
    gap_target_s: float | None = None  # next sentence within this (+ the restart time)
    appendonly: bool = False


# --- faults ---------------------------------------------------------------------------------


async def kill_worker(stack: FaultStack, call_id: str) -> float:
    (await stack.worker_of(call_id)).kill()
    return 0.0  # the other worker takes over; the dead one is restarted after the trial


async def restart_temporal(stack: FaultStack, _call_id: str) -> float:
    start = time.time()
    stack.temporal.kill()
    await asyncio.sleep(TEMPORAL_DOWN_S)
    await stack.start_temporal()
    return time.time() - start


async def restart_redis(stack: FaultStack, _call_id: str) -> float:
    start = time.time()
    stack.redis.kill()
    await asyncio.sleep(REDIS_DOWN_S)
    await stack.start_redis()
    return time.time() - start


async def restart_api(stack: FaultStack, _call_id: str) -> float:
    start = time.time()
    stack.api.kill()
    await stack.start_api()
    return time.time() - start


async def restart_llm(stack: FaultStack, _call_id: str) -> float:
    start = time.time()
    stack.llm.kill()
    await stack.start_llm()
    return time.time() - start


async def black_hole_llm(stack: FaultStack, _call_id: str) -> float:
    stack.llm_proxy.black_hole()
    await asyncio.sleep(BLACK_HOLE_S)
    stack.llm_proxy.restore()
    return BLACK_HOLE_S


async def black_hole_redis(stack: FaultStack, _call_id: str) -> float:
    stack.redis_proxy.black_hole()
    await asyncio.sleep(BLACK_HOLE_S)
    stack.redis_proxy.restore()
    return BLACK_HOLE_S


CASES: tuple[Case, ...] = (
    Case("worker-mid", "worker SIGKILL while the answer streams", "mid", kill_worker, 2.0),
    Case("worker-idle", "worker SIGKILL between turns", "idle", kill_worker, 2.0),
    Case("temporal-mid", "Temporal SIGKILL+restart mid-turn", "mid", restart_temporal, 2.0),
    Case("temporal-idle", "Temporal SIGKILL+restart between turns", "idle", restart_temporal, 2.0),
    Case("redis-mid", "Redis SIGKILL+restart mid-turn, no persistence", "mid", restart_redis),
    Case("redis-aof-mid", "Redis SIGKILL+restart mid-turn, AOF", "mid", restart_redis, None, True),
    Case("api-mid", "API SIGKILL+restart, chat turn pending", "mid", restart_api),
    Case("llm-mid", "LLM server SIGKILL+restart mid-stream", "mid", restart_llm),
    Case("llm-blackhole", "TCP path to the LLM black-holed 4 s", "mid", black_hole_llm),
    Case("redis-blackhole", "TCP path to Redis black-holed 4 s", "mid", black_hole_redis),
)
BY_NAME = {case.name: case for case in CASES}


# --- one trial ------------------------------------------------------------------------------


async def new_chat_call(stack: FaultStack) -> str:
    number = f"+3361{uuid.uuid4().int % 10**7:07d}"
    response = await stack.http.post("/call", json={"phone_number": number})
    response.raise_for_status()
    return str(response.json()["call_id"])


async def stored_call(stack: FaultStack, call_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        try:
            response = await stack.http.get(f"/call/{call_id}", timeout=10)
            if response.status_code == 200:
                call: dict[str, Any] = response.json()["call"]
                return call
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"call {call_id} cannot be read")
        await asyncio.sleep(0.3)


async def run_trial(stack: FaultStack, case: Case) -> Trial:
    """One call, two turns, `case`'s fault on the first (see the module docstring)."""
    await stack.use_redis(appendonly=case.appendonly)
    call_id = await new_chat_call(stack)
    stack.tail.follow(call_id)
    turns = []
    if case.when == "idle":
        turns.append(await send_turn(stack.http, call_id, 1))
        fault_at = time.time()
        injected = asyncio.create_task(case.inject(stack, call_id))
        turns.append(await send_turn(stack.http, call_id, 2))
    else:
        pending = asyncio.create_task(send_turn(stack.http, call_id, 1))
        await stack.tail.wait_turn(1, MID_AFTER_SENTENCES)
        fault_at = time.time()
        injected = asyncio.create_task(case.inject(stack, call_id))
        turns.append(await pending)
    restart_s = await injected
    if case.when != "idle":
        turns.append(await send_turn(stack.http, call_id, 2))
    call = await stored_call(stack, call_id)
    trial = measure(case, turns, call, stack, fault_at)
    trial.restart_s = restart_s
    await stack.heal_workers()
    return trial


def measure(
    case: Case, turns: list[TurnOutcome], call: dict[str, Any], stack: FaultStack, fault_at: float
) -> Trial:
    trial = Trial(case.name)
    messages = call.get("messages", [])
    human = Counter(m["content"] for m in messages if m["persona"] == "human")
    for turn in turns:
        stored = human[turn.text]
        if stored == 0:
            trial.lost += 1
            trial.notes.append(f"turn {turn.turn_id} not stored ({', '.join(turn.errors)})")
        elif turn.reply is None:
            trial.lost += 1
            trial.notes.append(f"turn {turn.turn_id}: no reply reached the client "
                               f"({', '.join(turn.errors)})")  # fmt: skip
        trial.duplicated += max(0, stored - 1)
        said = " ".join(
            m["content"] or ""
            for m in messages
            if m["persona"] == "assistant" and m.get("turn_id") == turn.turn_id
        )
        heard = Counter(h.text for h in stack.tail.of_turn(turn.turn_id))
        for sentence in SENTENCES:
            times_stored = said.count(sentence)
            if times_stored and not heard[sentence]:
                trial.unheard += 1
            trial.heard_twice += max(0, heard[sentence] - 1)
            if times_stored > 1:
                trial.notes.append(f"turn {turn.turn_id}: {sentence!r} stored {times_stored}x")
        if turn.errors:
            trial.notes.append(f"turn {turn.turn_id} resent: {', '.join(turn.errors)}")
    after = [h for h in stack.tail.heard if h.at > fault_at]
    if after:
        trial.gap_s = after[0].at - fault_at
    extras = [h.text for h in after if h.text not in SENTENCES]
    trial.between = list(dict.fromkeys(extras))
    return trial


# --- the matrix -----------------------------------------------------------------------------


def _p50(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"


def table(trials: list[Trial], cases: tuple[Case, ...] = CASES) -> str:
    """The matrix: one row per case, loss counts summed over its trials."""
    header = (
        "| case | trials | lost | dup | stored-unheard | heard 2x | fault->next (p50/max s) "
        "| restart s | heard in between |"
    )
    lines = [header, "|" + "---|" * 9]
    for case in cases:
        rows = [t for t in trials if t.case == case.name]
        if not rows:
            continue
        gaps = [t.gap_s for t in rows if t.gap_s is not None]
        missing = len(rows) - len(gaps)
        gap = f"{_p50(gaps)} / {max(gaps):.2f}" if gaps else "-"
        if missing:
            gap += f" ({missing} none)"
        between = sorted({text[:40] for t in rows for text in t.between})
        lines.append(
            f"| {case.title} | {len(rows)} | {sum(t.lost for t in rows)} "
            f"| {sum(t.duplicated for t in rows)} | {sum(t.unheard for t in rows)} "
            f"| {sum(t.heard_twice for t in rows)} | {gap} "
            f"| {_p50([t.restart_s for t in rows])} | {'; '.join(between) or '-'} |"
        )
    return "\n".join(lines)
