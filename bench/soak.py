"""Load and soak with real processes: many chat calls and phone calls for a long time, then a
burst of calls.

The stack is the fault harness's (`bench/_faults_stack.py`, `voice=True`): Redis, the Temporal dev
server, the scripted LLM, two workers, the API with telephony through the ACS emulator, and two
media gateways with zero-cost tone engines (`bench/_faults_voice.py`) behind a balancer, each its
own OS process on loopback. A second API process, without telephony, carries the chat calls and
the burst. The scripted LLM answers every turn at once with two short sentences (its request log
is cleared every minute, so its memory measures the server and not the log).

For `--minutes`:
  - `--calls` concurrent chat calls each send a turn every `--gap` seconds through
    `POST /call/{id}/messages` with a turn id; the round trip (POST sent → reply received) is the
    turn overhead, the LLM answering instantly;
  - `--voice-calls` concurrent phone calls, each placed with `POST /call` and answered by the
    emulator's phone, whose caller says a turn (a tone the gateway's STT reads back as "Caller
    turn n.") every 10–15 s; the reply latency is from the end of the utterance to the first bot
    audio the phone received.
With `--turns-per-call N` (default 30) a call ends after N turns: the caller says goodbye, the
scripted model answers with `end_call`, and a new call takes the line; a line's first call ends
at a random turn, so calls of every age are live at once. `--turns-per-call 0` keeps every call
for the whole soak (118 chat turns each at the defaults: a stress of long calls, whose state the
workers hold and which grows with every turn).
Afterwards every call's stored messages are compared with what was sent or said: a turn missing
from the workflow is lost, one stored twice is duplicated. It prints:
  - the chat round trip and the voice reply latency p50/p95 per minute of the run;
  - turns sent/said, lost, duplicated (and voice turns the phone heard no answer to), and the
    mean size of a chat call's state and current history at the end;
  - RSS of every process at the start, at the end of the warm-up (every call has had
    `WARM_TURNS` turns; with `--turns-per-call`, every line's first call has ended) and at
    the end, the growth end vs warm-up, the slope (MB/min) after the warm-up, and every
    `--sample-s` sample with the turns done so far;
  - then `--burst` concurrent `POST /call` (chat): p50/p95/max, the error count and the CPU each
    process spent meanwhile; with `--profile` py-spy's hottest frames in the chat API and the
    workers. `--trace` runs worker 1 under tracemalloc from the end of the warm-up and prints
    what its Python heap still holds at the end (the rest of its growth is native).

    python bench/soak.py [--calls 100] [--voice-calls 20] [--minutes 20] [--gap 10] [--burst 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from temporalio.service import RPCError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from acs_emulator.client import EmulatorClient  # noqa: E402
from acs_emulator.media import MAX_RECEIVED_BYTES  # noqa: E402
from bench._faults_phone import ONE_LANGUAGE, Line, _connected, _turn_texts  # noqa: E402
from bench._faults_stack import SENTENCES, FaultStack, Proc, open_fault_stack  # noqa: E402
from bench._faults_voice import (  # noqa: E402
    CALLER_S,
    GOODBYE_TEXT,
    GOODBYE_TURN,
    OTHER_HZ,
    caller_hz,
)
from bench._processes import cpu_seconds  # noqa: E402
from bench._report import pct  # noqa: E402
from core.redis_server import free_port  # noqa: E402
from domain.flags import FeatureFlags  # noqa: E402
from media_gateway.session import SessionConfig  # noqa: E402

# Warm-up ends once every chat call has had this many turns and every phone call has said as
# many (or ended): every call's workflow is then cached on a worker and every code path has run.
WARM_TURNS = 3
WARM_UP_MAX_S = 300.0
LOG_CLEAR_S = 60.0
# Two of the tone TTS's sentences: the phone hears them as 0.8 s of answer, well inside a gap.
SHORT_ANSWER = {"default": {"text": " ".join(SENTENCES[:2])}}
# A call's last answer with `--turns-per-call`: the model says goodbye and ends the call.
GOODBYE = {"text": SENTENCES[0], "tool_calls": [{"name": "end_call"}]}
VOICE_GAP_S = (10.0, 15.0)
# The caller's tones the gateway's STT can tell apart: under the 8 kHz Nyquist limit and never
# the tone of the bot's other phrases (turn 12 would be read as the greeting's tone).
CALLER_CODES = tuple(
    n for n in range(1, 60) if caller_hz(n) < 7_000 and abs(caller_hz(n) - OTHER_HZ) > 50
)


@dataclass
class Turns:
    """Every chat turn's outcome, by the minute it was sent in."""

    rtt: dict[int, list[float]] = field(default_factory=dict)
    failed: Counter[str] = field(default_factory=Counter)
    sent: dict[str, list[int]] = field(default_factory=dict)  # call id → acknowledged turn ids
    ended: int = 0  # calls ended by their goodbye (`--turns-per-call`)
    lines_turned: set[int] = field(default_factory=set)  # lines whose first call has ended
    not_ended: int = 0  # calls whose goodbye did not end them (the soak went on with a new one)
    state_bytes: list[int] = field(default_factory=list)  # each call's state as JSON, at the end


@dataclass
class VoiceTurns:
    """Every phone turn: what each call's caller said, and how fast the phone heard a reply."""

    latency: dict[int, list[float]] = field(default_factory=dict)  # by minute said
    said: dict[str, list[str]] = field(default_factory=dict)  # call id → texts, in order
    connections: list[str] = field(default_factory=list)
    broken: Counter[str] = field(default_factory=Counter)  # calls the caller could not go on in
    not_live: Counter[str] = field(default_factory=Counter)  # call status at the end, if not live
    unheard: int = 0  # no bot audio reached the phone before the caller's next turn
    ended: set[str] = field(default_factory=set)  # calls ended by their goodbye
    lines_turned: set[int] = field(default_factory=set)  # lines whose first call has ended
    not_ended: int = 0  # calls whose goodbye did not end them
    not_connected: int = 0


async def post_turn(
    api: httpx.AsyncClient, call_id: str, turn_id: int, text: str, turns: Turns, started: float
) -> bool:
    """Send one turn, resending the same id on a transport error (as a client must)."""
    for _ in range(5):
        sent = time.monotonic()
        try:
            response = await api.post(
                f"/call/{call_id}/messages", json={"text": text, "turn_id": turn_id}
            )
        except httpx.HTTPError as exc:
            turns.failed[type(exc).__name__] += 1
            await asyncio.sleep(1)
            continue
        if response.status_code == 200:
            minute = int((sent - started) // 60)
            turns.rtt.setdefault(minute, []).append(time.monotonic() - sent)
            return True
        turns.failed[f"HTTP {response.status_code}"] += 1
        if response.status_code < 500:
            return False
        await asyncio.sleep(1)
    return False


async def say_goodbye_next(llm: httpx.AsyncClient, call_id: str) -> None:
    """The model's next answer to this call (its `user`) says goodbye and ends the call."""
    response = await llm.post("/_script", json={"user": call_id, "replies": [GOODBYE]})
    response.raise_for_status()


async def until_ended(api: httpx.AsyncClient, call_id: str, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            response = await api.get(f"/call/{call_id}", timeout=10)
            if response.status_code == 200 and response.json()["call"]["status"] == "ended":
                return True
        await asyncio.sleep(0.5)
    return False


def call_length(args: argparse.Namespace, first: bool) -> int:
    """Turns before the goodbye (0: none). A line's first call is cut at a random turn, so
    calls of every age are live at any moment, as in a call center, not all in step."""
    if args.turns_per_call and first:
        return random.randint(1, args.turns_per_call)
    return int(args.turns_per_call)


async def chat_caller(
    line: int,
    api: httpx.AsyncClient,
    llm: httpx.AsyncClient,
    started: float,
    deadline: float,
    args: argparse.Namespace,
    turns: Turns,
) -> None:
    """One line of chat calls: each sends a turn every `gap` s; with `--turns-per-call` its
    last turn is a goodbye the model answers with `end_call`, and a new call takes its place."""
    await asyncio.sleep(random.uniform(0, args.gap))  # spread the calls' phases
    length = call_length(args, first=True)
    while time.monotonic() < deadline:
        response = await api.post("/call", json={"phone_number": "+33612345678"})
        response.raise_for_status()
        call_id = response.json()["call_id"]
        acknowledged = turns.sent.setdefault(call_id, [])
        turn_id = 0
        while time.monotonic() < deadline:
            turn_id += 1
            last = turn_id == length
            if last:
                await say_goodbye_next(llm, call_id)
            text = f"turn {turn_id}: " + (
                "that is all, thank you, goodbye." if last else "my car was hit near the station."
            )
            if await post_turn(api, call_id, turn_id, text, turns, started):
                acknowledged.append(turn_id)
            await asyncio.sleep(args.gap)
            if last:
                if await until_ended(api, call_id):
                    turns.ended += 1
                else:
                    turns.not_ended += 1
                turns.lines_turned.add(line)
                length = call_length(args, first=False)
                break


async def get_call(api: httpx.AsyncClient, call_id: str) -> httpx.Response:
    """GET /call/{id}, again after a 5xx (a query times out on a worker busy catching up)."""
    for _ in range(10):
        response = await api.get(f"/call/{call_id}")
        if response.status_code < 500:
            break
        await asyncio.sleep(3)
    response.raise_for_status()
    return response


async def check_stored(api: httpx.AsyncClient, turns: Turns) -> tuple[int, int]:
    """(lost, duplicated) turns: acknowledged turns missing from, or repeated in, the state."""
    lost = duplicated = 0
    for call_id, acknowledged in turns.sent.items():
        response = await get_call(api, call_id)
        turns.state_bytes.append(len(json.dumps(response.json()["call"])))
        stored = Counter(
            m["turn_id"]
            for m in response.json()["call"]["messages"]
            if m["persona"] == "human" and m.get("turn_id") is not None
        )
        lost += sum(1 for t in acknowledged if stored[t] == 0)
        duplicated += sum(n - 1 for n in stored.values() if n > 1)
    return lost, duplicated


HISTORIES_SAMPLED = 20


async def history_sizes(stack: FaultStack, call_ids: list[str]) -> tuple[float, float]:
    """Mean (events, KB) of the calls' current runs: what a cached run grows with."""
    client = await stack.client()
    events = sizes = 0
    for call_id in call_ids:
        description = await client.get_workflow_handle(f"call-{call_id}").describe()
        events += description.history_length
        sizes += description.raw_description.workflow_execution_info.history_size_bytes
    return events / len(call_ids), sizes / len(call_ids) / 1024


async def received(acs: EmulatorClient, connection_id: str) -> int:
    return (await acs.call(connection_id)).media.audio_bytes_received


async def first_audio(
    acs: EmulatorClient, connection_id: str, before: int, timeout: float
) -> float | None:
    """When bot audio past byte `before` reached the phone (monotonic), None by the timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        with contextlib.suppress(Exception):
            if await received(acs, connection_id) > before:
                return time.monotonic()
    return None


async def voice_caller(
    line: int,
    stack: FaultStack,
    acs: EmulatorClient,
    llm: httpx.AsyncClient,
    started: float,
    deadline: float,
    args: argparse.Namespace,
    voice: VoiceTurns,
) -> None:
    """One line of phone calls: a call, and with `--turns-per-call` the next when it ends."""
    length = call_length(args, first=True)
    while time.monotonic() < deadline:
        if not await voice_call(stack, acs, llm, started, deadline, length, voice):
            return
        voice.lines_turned.add(line)
        length = call_length(args, first=False)


async def voice_call(
    stack: FaultStack,
    acs: EmulatorClient,
    llm: httpx.AsyncClient,
    started: float,
    deadline: float,
    length: int,
    voice: VoiceTurns,
) -> bool:
    """One phone call placed through the API, its caller saying a turn every 10–15 s; with
    `--turns-per-call`, the model answers the last with a goodbye and `end_call`. True when
    the call ended that way (another can follow)."""
    number = f"+3361{uuid.uuid4().int % 10**7:07d}"
    await acs.add_phone(number, answer="auto", answer_delay_ms=50)
    response = await stack.http.post("/call", json={"phone_number": number, "lang": ONE_LANGUAGE})
    response.raise_for_status()
    call_id = str(response.json()["call_id"])
    said = voice.said.setdefault(call_id, [])
    try:
        connection_id = await _connected(stack, call_id, timeout=120)
    except TimeoutError:
        voice.not_connected += 1
        return False
    voice.connections.append(connection_id)
    line = Line(acs, connection_id)  # not started: `first_audio` polls only while one waits
    await asyncio.sleep(random.uniform(3.0, VOICE_GAP_S[1]))  # the greeting; spread the phases
    index = 0
    while time.monotonic() < deadline:
        code = CALLER_CODES[index % len(CALLER_CODES)]
        index += 1
        last = index == length
        if last:  # the model's `end_call` is kept only when the caller said goodbye
            code = GOODBYE_TURN
            await say_goodbye_next(llm, call_id)
        next_at = time.monotonic() + random.uniform(*VOICE_GAP_S)
        try:
            before = await received(acs, connection_id)
            said_at = time.monotonic()
            await line.say(code)
        except Exception as exc:  # the call ended under the caller: counted, the soak goes on
            voice.broken[f"{type(exc).__name__}: {exc}"[:120]] += 1
            return False
        said.append(GOODBYE_TEXT if last else f"Caller turn {code}.")
        heard = await first_audio(acs, connection_id, before, next_at - time.monotonic())
        if heard is None:
            voice.unheard += 1
        else:
            minute = int((said_at - started) // 60)
            voice.latency.setdefault(minute, []).append(heard - said_at - CALLER_S)
        if last:
            if await until_ended(stack.http, call_id):
                voice.ended.add(call_id)
                return True
            voice.not_ended += 1
            return False
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    return False


async def check_voice(stack: FaultStack, voice: VoiceTurns) -> tuple[int, int, int]:
    """(stored, lost, duplicated) phone turns: said texts missing from, or surplus in, the
    call's stored caller messages; a fragment stored as a turn counts as lost."""
    stored_total = lost = duplicated = 0
    for call_id, said in voice.said.items():
        response = await get_call(stack.http, call_id)
        call = response.json()["call"]
        if call["status"] != "in_progress" and call_id not in voice.ended:
            voice.not_live[call["status"]] += 1
        stored = Counter({text: len(ids) for text, ids in _turn_texts(call).items()})
        expected = Counter(said)
        stored_total += sum(stored.values())
        lost += sum((expected - stored).values())
        duplicated += sum(n for text, n in (stored - expected).items() if "(fragment)" not in text)
    return stored_total, lost, duplicated


@dataclass
class Memory:
    """RSS of every process: at the start, at the end of the warm-up, at the end, and sampled
    every `every` seconds (elapsed s, MB by process)."""

    pids: dict[str, int]
    every: float
    start: dict[str, float] = field(default_factory=dict)
    warm: dict[str, float] = field(default_factory=dict)
    warm_at: float = 0.0  # seconds since the start when the warm-up ended
    end: dict[str, float] = field(default_factory=dict)
    samples: list[tuple[float, int, dict[str, float]]] = field(default_factory=list)

    async def sample(self, started: float, stop: asyncio.Event, done: Callable[[], int]) -> None:
        """Every `every` s until `stop`: (elapsed s, turns `done` so far, RSS by process)."""
        while not stop.is_set():
            self.samples.append((time.monotonic() - started, done(), rss_mb(self.pids)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)

    def slope(self, name: str, since: float | None = None) -> float:
        """MB per minute after the warm-up, or after `since` s (least squares over the samples,
        NaN if too few)."""
        since = self.warm_at if since is None else since
        points = [(t / 60, mb[name]) for t, _, mb in self.samples if t >= since]
        if len(points) < 3:
            return float("nan")
        mean_t = sum(t for t, _ in points) / len(points)
        mean_mb = sum(mb for _, mb in points) / len(points)
        spread = sum((t - mean_t) ** 2 for t, _ in points)
        return sum((t - mean_t) * (mb - mean_mb) for t, mb in points) / spread


def rss_mb(pids: dict[str, int]) -> dict[str, float]:
    """Resident memory of each process (Linux), NaN for one that has exited."""
    out = {}
    for name, pid in pids.items():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            out[name] = float("nan")
            continue
        kib = [line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")]
        out[name] = int(kib[0]) / 1024 if kib else float("nan")  # none for a zombie
    return out


async def burst(api: httpx.AsyncClient, n: int) -> tuple[list[float], Counter[str]]:
    errors: Counter[str] = Counter()
    times: list[float] = []

    async def one() -> None:
        sent = time.monotonic()
        try:
            response = await api.post("/call", json={"phone_number": "+33612345678"})
        except httpx.HTTPError as exc:
            errors[type(exc).__name__] += 1
            return
        if response.status_code != 201:
            errors[f"HTTP {response.status_code}"] += 1
            return
        times.append(time.monotonic() - sent)

    await asyncio.gather(*(one() for _ in range(n)))
    return times, errors


async def start_chat_api(stack: FaultStack) -> Proc:
    """The API again, without telephony: its calls are chat calls on the same workers."""
    port = free_port()
    env = {k: v for k, v in stack.env.items() if not k.startswith("CALLCENTER_TELEPHONY__")}
    env |= {"CALLCENTER_TELEPHONY__KIND": "none", "CALLCENTER_API__PORT": str(port)}
    api = Proc(
        "api-chat", [sys.executable, "-m", "api.main"], env, stack.work / "logs" / "chat.log"
    )
    api.start()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/liveness", timeout=1)).status_code < 500:
                    return api
            if not api.alive:
                raise RuntimeError(f"the chat API exited; see {api.log}")
            await asyncio.sleep(0.1)
    raise RuntimeError("the chat API did not answer")


async def short_answers(llm: httpx.AsyncClient, stop: asyncio.Event) -> None:
    """Every answer short, and the LLM's request log dropped every `LOG_CLEAR_S` (queued
    goodbyes stay)."""
    await llm.post("/_reset")
    await llm.post("/_script", json=SHORT_ANSWER)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), LOG_CLEAR_S)
        with contextlib.suppress(httpx.HTTPError):
            await llm.post("/_reset", params={"what": "requests"})


def print_minutes(title: str, by_minute: dict[int, list[float]]) -> None:
    print(f"{title}\n{'minute':>6} {'turns':>6} {'p50 ms':>8} {'p95 ms':>8}")
    for minute in sorted(by_minute):
        values = [v * 1000 for v in by_minute[minute]]
        p50, p95 = pct(values, 0.5), pct(values, 0.95)
        print(f"{minute:>6} {len(values):>6} {p50:>8.0f} {p95:>8.0f}")


async def warm_up(
    turns: Turns, voice: VoiceTurns, args: argparse.Namespace, deadline: float
) -> None:
    """Until every call has had `WARM_TURNS` turns (see there), at most `WARM_UP_MAX_S`; with
    `--turns-per-call`, until every line's first call has ended (calls of every age are live
    from then on, and each worker caches as many as it will)."""
    limit = WARM_UP_MAX_S + args.turns_per_call * VOICE_GAP_S[1]
    until = min(deadline, time.monotonic() + limit)
    while time.monotonic() < until:
        gone = voice.not_connected + sum(voice.broken.values())
        if args.turns_per_call:
            chat_warm = len(turns.lines_turned) >= args.calls
            phone_warm = len(voice.lines_turned) + gone >= args.voice_calls
        else:
            chats = [len(acked) for acked in turns.sent.values()]
            phones = [len(said) for said in voice.said.values()]
            chat_warm = sum(1 for n in chats if n >= WARM_TURNS) >= args.calls
            phone_warm = sum(1 for n in phones if n >= WARM_TURNS) + gone >= args.voice_calls
        if chat_warm and phone_warm:
            return
        await asyncio.sleep(1)
    print(f"warning: the warm-up did not finish in {limit:.0f} s", file=sys.stderr)


def print_memory(memory: Memory, steady_min: float, churn: bool) -> None:
    warm = "every line's first call ended" if churn else f"{WARM_TURNS} turns a call"
    ended = f"{memory.warm_at / 60:.1f} min ({warm})"
    print(f"\nRSS in MB; the warm-up ended at {ended}")
    # A long call's run grows until its history rotates (`history_rotate_events`, 400 events:
    # ~30 turns, 5 min at a turn every 10 s); its steady state starts after the first rotation.
    steady_at = 60 * steady_min
    steady = next((mb for t, _, mb in memory.samples if t >= steady_at), memory.end)
    head = (
        f"{'process':>10} {'start':>7} {'warm':>7} {'steady':>7} {'end':>7} {'growth':>7} "
        f"{'MB/min':>7} {'steady':>7} {'MB/min':>7}"
    )
    print(
        f"{head}\n  (growth and MB/min: end vs warm, slope after the warm-up; then the same from"
        f" minute {steady_min:g}, after every call's first history rotation)"
    )
    for name in memory.pids:
        start, warm, end = memory.start[name], memory.warm[name], memory.end[name]
        growth = (end / warm - 1) * 100
        steady_growth = (end / steady[name] - 1) * 100
        print(
            f"{name:>10} {start:>7.1f} {warm:>7.1f} {steady[name]:>7.1f} {end:>7.1f} "
            f"{growth:>6.1f}% {memory.slope(name):>7.2f} {steady_growth:>6.1f}% "
            f"{memory.slope(name, steady_at):>7.2f}"
        )
    names = list(memory.pids)
    print(
        "\nRSS samples (MB)\n"
        + f"{'min':>5} {'turns':>6} "
        + " ".join(f"{n[:9]:>9}" for n in names)
    )
    for at, done, mb in memory.samples:
        print(f"{at / 60:>5.1f} {done:>6} " + " ".join(f"{mb[n]:>9.1f}" for n in names))


async def recorded_audio_mb(acs: EmulatorClient, voice: VoiceTurns) -> float:
    """The bot audio the emulator holds for the phone calls (capped per call by the emulator)."""
    total = 0
    for connection in voice.connections:
        with contextlib.suppress(Exception):
            total += min(await received(acs, connection), MAX_RECEIVED_BYTES)
    return total / 2**20


async def wait_snapshot(folder: Path, timeout: float = 300.0) -> None:
    for _ in range(int(timeout / 0.5)):
        if (folder / "snapshot-1.done").exists():
            return
        await asyncio.sleep(0.5)


def print_trace(folder: Path, top: int = 12) -> None:
    """What the traced worker allocated in Python after the warm-up and still held at the end."""
    if not (folder / "snapshot-1.done").exists():
        print(f"no tracemalloc snapshot in {folder}")
        return
    end = tracemalloc.Snapshot.load(str(folder / "snapshot-1.pickle"))
    by_line = end.statistics("lineno")
    total = sum(s.size for s in by_line) / 2**20
    print(f"\ntraced worker: {total:.1f} MB of Python blocks allocated after the warm-up are alive")
    print("most, by line:")
    for stat in by_line[:top]:
        frame = stat.traceback[0]
        print(
            f"  {stat.size / 2**20:8.2f} MB {stat.count:8d} blocks  "
            f"{_short(frame.filename)}:{frame.lineno}"
        )
    print("most, by traceback (the allocating frame, then the SDK's and ours, innermost first):")
    for stat in end.statistics("traceback")[: top // 2]:
        print(f"  {stat.size / 2**20:8.2f} MB {stat.count:8d} blocks")
        frames = list(reversed(stat.traceback))
        shown = frames[:1] + [f for f in frames[1:] if _ours(f.filename)][:FRAMES_SHOWN]
        for frame in shown:
            print(f"      {_short(frame.filename)}:{frame.lineno}")


FRAMES_SHOWN = 6


# The project's packages: py-spy names their files relative to the import root.
_PROJECT = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}


def _ours(filename: str) -> bool:
    """A frame of the project or of temporalio (full paths from tracemalloc, relative from
    py-spy)."""
    if "site-packages/temporalio" in filename or filename.startswith(str(ROOT)):
        return True
    return filename.startswith("temporalio/") or filename.split("/")[0] in _PROJECT


def _short(filename: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


async def trace_worker(stack: FaultStack) -> None:
    """Run the first worker under tracemalloc (`bench/_traced_worker.py`)."""
    worker = stack.workers[0]
    worker.stop()
    worker.argv = [sys.executable, str(ROOT / "bench" / "_traced_worker.py")]
    worker.env = {**worker.env, "CALLCENTER_TRACE_DIR": str(stack.work / "trace")}
    worker.start()
    await stack.wait_polling([w.pid for w in stack.workers])


async def main(args: argparse.Namespace) -> None:
    for attempt in range(1, STACK_ATTEMPTS + 1):
        async with open_fault_stack(voice=args.voice_calls > 0, keep=args.keep) as stack:
            if args.keep:
                print(f"logs: {stack.work / 'logs'}", flush=True)
            if args.trace:
                await trace_worker(stack)
            chat_api = await start_chat_api(stack)
            try:
                await asyncio.sleep(2)
                dead = [p.name for p in (*stack_procs(stack), chat_api) if not p.alive]
                if dead:
                    # The box is shared: a port picked free can be taken before it is bound,
                    # and the health check then reaches someone else's server.
                    print(f"attempt {attempt}: {dead} exited at start (see the logs); again")
                    continue
                await soak(stack, chat_api, args)
                return
            finally:
                chat_api.stop()
    raise RuntimeError(f"the stack did not start in {STACK_ATTEMPTS} attempts")


STACK_ATTEMPTS = 3


def stack_procs(stack: FaultStack) -> list[Proc]:
    procs = [stack.redis, stack.temporal, stack.llm, *stack.workers, stack.api]
    return procs + [p for p in (stack.emulator, *stack.gateways) if p is not None]


async def soak(stack: FaultStack, chat_api: Proc, args: argparse.Namespace) -> None:
    procs = [*stack_procs(stack), chat_api]
    pids = {p.name: p.pid for p in procs}
    memory = Memory(pids, args.sample_s)
    memory.start = rss_mb(pids)
    chat_url = f"http://127.0.0.1:{chat_api.env['CALLCENTER_API__PORT']}"
    limits = httpx.Limits(max_connections=args.burst + args.calls)
    stop = asyncio.Event()
    async with (
        httpx.AsyncClient(base_url=chat_url, timeout=60, limits=limits) as api,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.llm_port}", timeout=10) as llm,
        EmulatorClient(f"http://127.0.0.1:{stack.emulator_port}") as acs,
    ):
        script = asyncio.create_task(short_answers(llm, stop))
        await asyncio.sleep(0.5)
        turns, voice = Turns(), VoiceTurns()
        started = time.monotonic()
        deadline = started + args.minutes * 60
        calls = [
            asyncio.create_task(chat_caller(line, api, llm, started, deadline, args, turns))
            for line in range(args.calls)
        ]
        calls += [
            asyncio.create_task(voice_caller(line, stack, acs, llm, started, deadline, args, voice))
            for line in range(args.voice_calls)
        ]

        def turns_done() -> int:
            return sum(map(len, turns.sent.values())) + sum(map(len, voice.said.values()))

        sampler = asyncio.create_task(memory.sample(started, stop, turns_done))
        await warm_up(turns, voice, args, deadline)
        memory.warm, memory.warm_at = rss_mb(pids), time.monotonic() - started
        traced = [w for w in stack.workers if w.argv[-1].endswith("_traced_worker.py")]
        for worker in traced:
            os.kill(worker.pid, signal.SIGUSR1)
        await asyncio.gather(*calls)
        memory.end = rss_mb(pids)
        memory.samples.append((time.monotonic() - started, turns_done(), memory.end))
        for worker in traced:
            os.kill(worker.pid, signal.SIGUSR1)
        if traced:  # the snapshot holds the worker for a while: its calls do not answer
            await wait_snapshot(stack.work / "trace")
        await asyncio.sleep(3)  # the last phone turns being stored
        # A call whose state cannot be read is reported, not the end of the run.
        lost = duplicated = voice_stored = voice_lost = voice_duplicated = -1
        try:
            lost, duplicated = await check_stored(api, turns)
        except httpx.HTTPError as exc:
            print(f"chat calls not checked: {exc}")
        try:
            voice_stored, voice_lost, voice_duplicated = await check_voice(stack, voice)
        except httpx.HTTPError as exc:
            print(f"phone calls not checked: {exc}")
        stop.set()
        await script
        await sampler

        print(f"\nsoak: {args.calls} chat calls for {args.minutes} min, a turn every {args.gap} s")
        print_minutes("chat turn round trip (POST → reply)", turns.rtt)
        total = sum(len(v) for v in turns.sent.values())
        print(f"chat turns acknowledged {total}, lost {lost}, duplicated {duplicated}")
        print(f"failed attempts (resent): {dict(turns.failed) or 'none'}")
        if args.turns_per_call:
            print(
                f"chat calls {len(turns.sent)}: ended by their goodbye {turns.ended}, "
                f"goodbye not ending the call {turns.not_ended}"
            )
        if turns.sent:
            try:
                events, kib = await history_sizes(stack, list(turns.sent)[:HISTORIES_SAMPLED])
                print(f"a chat call's history at the end: {events:.0f} events, {kib:.0f} KB")
            except RPCError as exc:
                print(f"histories not described: {exc}")
        if turns.state_bytes:
            size = sum(turns.state_bytes) / len(turns.state_bytes)
            # Each turn's save passes the whole state to a local activity; the Temporal core keeps
            # every local activity's input for as long as the run is cached.
            print(
                f"a chat call's state at the end: {size / 1024:.1f} KB of JSON "
                f"({total / len(turns.state_bytes):.0f} turns)"
            )
        if args.voice_calls:
            low, high = VOICE_GAP_S
            print(f"\n{args.voice_calls} phone calls, a caller turn every {low:.0f}–{high:.0f} s")
            print_minutes("voice reply latency (end of utterance → first bot audio)", voice.latency)
            # "Caller turn n." ends in a number, so the gateway waits for more digits too.
            held = FeatureFlags().vad_silence_timeout_ms + SessionConfig().number_hold_ms
            print(f"(of which {held:.0f} ms the gateway's end-of-turn silence and number hold)")
            said = sum(len(v) for v in voice.said.values())
            print(
                f"voice turns said {said}, stored {voice_stored}, lost {voice_lost}, "
                f"duplicated {voice_duplicated}, no answer heard {voice.unheard}, "
                f"calls not connected {voice.not_connected}"
            )
            if args.turns_per_call:
                print(
                    f"phone calls {len(voice.said)}: ended by their goodbye {len(voice.ended)}, "
                    f"goodbye not ending the call {voice.not_ended}"
                )
            print(f"calls not in progress at the end: {dict(voice.not_live) or 'none'}")
            print(f"calls the caller could not go on in: {dict(voice.broken) or 'none'}")
        print_memory(memory, args.steady_min, bool(args.turns_per_call))
        if args.voice_calls:
            held = await recorded_audio_mb(acs, voice)
            print(f"(the emulator keeps the audio each phone received: {held:.1f} MB now)")
        if args.trace:
            print_trace(stack.work / "trace")

        for connection in voice.connections:
            with contextlib.suppress(Exception):
                await acs.hang_up(connection)

        if args.burst:
            await run_burst(api, pids, args.burst, stack.work / "profile" if args.profile else None)


async def run_burst(
    api: httpx.AsyncClient, pids: dict[str, int], n: int, profile: Path | None
) -> None:
    """`n` concurrent POST /call: latency, and the CPU each process spent meanwhile (a process
    at 100 % of the wall time holds a whole core); with `profile`, py-spy samples the chat API
    and the workers and the hottest functions are printed."""
    pids = {**pids, "bench": os.getpid()}
    spies = start_spies(pids, profile) if profile else {}
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    began = time.monotonic()
    times, errors = await burst(api, n)
    wall = time.monotonic() - began
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    values = [t * 1000 for t in times]
    print(f"\nburst: {n} concurrent POST /call, all answered in {wall:.1f} s")
    if values:
        print(
            f"p50 {pct(values, 0.5):.0f} ms  p95 {pct(values, 0.95):.0f} ms  "
            f"max {max(values):.0f} ms  ok {len(values)}  errors {dict(errors) or 0}"
        )
    print(f"{'process':>10} {'CPU s':>7} {'of wall':>8}  (during the burst; 2 cores = 200 %)")
    for name, seconds in sorted(cpu.items(), key=lambda item: -item[1]):
        print(f"{name:>10} {seconds:>7.1f} {seconds / wall * 100:>7.0f}%")
    if profile:
        stop_spies(spies)
        for name in spies:
            print_profile(name, profile / f"{name}.txt")


PROFILED = ("api-chat", "worker1", "worker2")


def start_spies(pids: dict[str, int], folder: Path) -> dict[str, subprocess.Popen[bytes]]:
    folder.mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).parent / "py-spy")
    return {
        name: subprocess.Popen(
            [spy, "record", "--pid", str(pids[name]), "--nonblocking", "--format", "raw"]
            + ["--duration", "300", "--output", str(folder / f"{name}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name in PROFILED
        if name in pids
    }


def stop_spies(spies: dict[str, subprocess.Popen[bytes]]) -> None:
    for spy in spies.values():
        spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled, then exits
    for spy in spies.values():
        spy.wait(60)


def print_profile(name: str, raw: Path, top: int = 12) -> None:
    """The functions most often on the stack (inclusive) and at its top (self), from py-spy's
    collapsed stacks ("frame;frame;... count" a line)."""
    if not raw.exists():
        print(f"\n{name}: no profile (py-spy: pip install py-spy; needs ptrace)")
        return
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")  # "function (file:line)", outermost first
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    print(f"\n{name}: {total} samples; self")
    for frame, samples in own.most_common(top):
        print(f"  {samples / total * 100:5.1f}%  {_frame(frame)}")
    print(f"{name}: inclusive (our code and temporalio)")
    ours = [(f, n) for f, n in inclusive.most_common() if _ours(f.rpartition(" (")[2])]
    for frame, samples in ours[:top]:
        print(f"  {samples / total * 100:5.1f}%  {_frame(frame)}")


def _frame(frame: str) -> str:
    function, _, where = frame.rpartition(" (")
    return f"{function} {_short(where.rstrip(')'))}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--voice-calls", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--gap", type=float, default=10.0)
    parser.add_argument(
        "--turns-per-call",
        type=int,
        default=30,
        help="a call says goodbye after this many turns and a new one takes its place (30 chat"
        " turns: 5 minutes at --gap 10; a phone call ~6 min); 0: every call lasts the whole soak",
    )
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--sample-s", type=float, default=60.0, help="RSS sampling period")
    parser.add_argument(
        "--steady-min", type=float, default=8.0, help="minute the steady state is measured from"
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs and the databases")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the chat API and workers in the burst"
    )
    parser.add_argument(
        "--trace", action="store_true", help="worker1 under tracemalloc: what its heap grew by"
    )
    asyncio.run(main(parser.parse_args()))
    sys.stdout.flush()
    os._exit(0)  # temporalio can crash at interpreter exit (sdk-python#300)
