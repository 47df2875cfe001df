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
Afterwards every call's stored messages are compared with what was sent or said: a turn missing
from the workflow is lost, one stored twice is duplicated. It prints:
  - the chat round trip and the voice reply latency p50/p95 per minute of the run;
  - turns sent/said, lost, duplicated (and voice turns the phone heard no answer to);
  - RSS of every process after warm-up and at the end (growth in %);
  - then `--burst` concurrent `POST /call` (chat): p50/p95/max and the error count.

    python bench/soak.py [--calls 100] [--voice-calls 20] [--minutes 20] [--gap 10] [--burst 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from acs_emulator.client import EmulatorClient  # noqa: E402
from bench._faults_phone import ONE_LANGUAGE, Line, _connected, _turn_texts  # noqa: E402
from bench._faults_stack import SENTENCES, FaultStack, Proc, open_fault_stack  # noqa: E402
from bench._faults_voice import CALLER_S, OTHER_HZ, caller_hz  # noqa: E402
from bench._report import pct  # noqa: E402
from core.redis_server import free_port  # noqa: E402
from domain.flags import FeatureFlags  # noqa: E402
from media_gateway.session import SessionConfig  # noqa: E402

WARM_UP_S = 60.0
LOG_CLEAR_S = 60.0
# Two of the tone TTS's sentences: the phone hears them as 0.8 s of answer, well inside a gap.
SHORT_ANSWER = {"default": {"text": " ".join(SENTENCES[:2])}}
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


@dataclass
class VoiceTurns:
    """Every phone turn: what each call's caller said, and how fast the phone heard a reply."""

    latency: dict[int, list[float]] = field(default_factory=dict)  # by minute said
    said: dict[str, list[str]] = field(default_factory=dict)  # call id → texts, in order
    connections: list[str] = field(default_factory=list)
    broken: Counter[str] = field(default_factory=Counter)  # calls the caller could not go on in
    not_live: Counter[str] = field(default_factory=Counter)  # call status at the end, if not live
    unheard: int = 0  # no bot audio reached the phone before the caller's next turn
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


async def one_call(
    api: httpx.AsyncClient, started: float, deadline: float, gap: float, turns: Turns
) -> None:
    response = await api.post("/call", json={"phone_number": "+33612345678"})
    response.raise_for_status()
    call_id = response.json()["call_id"]
    acknowledged = turns.sent.setdefault(call_id, [])
    await asyncio.sleep(random.uniform(0, gap))  # spread the calls' phases
    turn_id = 0
    while time.monotonic() < deadline:
        turn_id += 1
        text = f"turn {turn_id}: my car was hit near the station."
        if await post_turn(api, call_id, turn_id, text, turns, started):
            acknowledged.append(turn_id)
        await asyncio.sleep(gap)


async def check_stored(api: httpx.AsyncClient, turns: Turns) -> tuple[int, int]:
    """(lost, duplicated) turns: acknowledged turns missing from, or repeated in, the state."""
    lost = duplicated = 0
    for call_id, acknowledged in turns.sent.items():
        response = await api.get(f"/call/{call_id}")
        response.raise_for_status()
        stored = Counter(
            m["turn_id"]
            for m in response.json()["call"]["messages"]
            if m["persona"] == "human" and m.get("turn_id") is not None
        )
        lost += sum(1 for t in acknowledged if stored[t] == 0)
        duplicated += sum(n - 1 for n in stored.values() if n > 1)
    return lost, duplicated


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


async def voice_call(
    stack: FaultStack, acs: EmulatorClient, started: float, deadline: float, voice: VoiceTurns
) -> None:
    """One phone call placed through the API, its caller saying a turn every 10–15 s."""
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
        return
    voice.connections.append(connection_id)
    line = Line(acs, connection_id)  # not started: `first_audio` polls only while one waits
    await asyncio.sleep(random.uniform(3.0, VOICE_GAP_S[1]))  # the greeting; spread the phases
    index = 0
    while time.monotonic() < deadline:
        code = CALLER_CODES[index % len(CALLER_CODES)]
        index += 1
        next_at = time.monotonic() + random.uniform(*VOICE_GAP_S)
        try:
            before = await received(acs, connection_id)
            said_at = time.monotonic()
            await line.say(code)
        except Exception as exc:  # the call ended under the caller: counted, the soak goes on
            voice.broken[f"{type(exc).__name__}: {exc}"[:120]] += 1
            return
        said.append(f"Caller turn {code}.")
        heard = await first_audio(acs, connection_id, before, next_at - time.monotonic())
        if heard is None:
            voice.unheard += 1
        else:
            minute = int((said_at - started) // 60)
            voice.latency.setdefault(minute, []).append(heard - said_at - CALLER_S)
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))


async def check_voice(stack: FaultStack, voice: VoiceTurns) -> tuple[int, int, int]:
    """(stored, lost, duplicated) phone turns: said texts missing from, or surplus in, the
    call's stored caller messages; a fragment stored as a turn counts as lost."""
    stored_total = lost = duplicated = 0
    for call_id, said in voice.said.items():
        response = await stack.http.get(f"/call/{call_id}")
        response.raise_for_status()
        call = response.json()["call"]
        if call["status"] != "in_progress":
            voice.not_live[call["status"]] += 1
        stored = Counter({text: len(ids) for text, ids in _turn_texts(call).items()})
        expected = Counter(said)
        stored_total += sum(stored.values())
        lost += sum((expected - stored).values())
        duplicated += sum(n for text, n in (stored - expected).items() if "(fragment)" not in text)
    return stored_total, lost, duplicated


def rss_mb(pids: dict[str, int]) -> dict[str, float]:
    """Resident memory of each process (Linux), NaN for one that has exited."""
    out = {}
    for name, pid in pids.items():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            out[name] = float("nan")
            continue
        kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
        out[name] = int(kib) / 1024
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
    """Every answer short, and the LLM's request log dropped every `LOG_CLEAR_S` (a request
    between the two posts gets the server's generic default, two short sentences as well)."""
    while not stop.is_set():
        with contextlib.suppress(httpx.HTTPError):
            await llm.post("/_reset")
            await llm.post("/_script", json=SHORT_ANSWER)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), LOG_CLEAR_S)


def print_minutes(title: str, by_minute: dict[int, list[float]]) -> None:
    print(f"{title}\n{'minute':>6} {'turns':>6} {'p50 ms':>8} {'p95 ms':>8}")
    for minute in sorted(by_minute):
        values = [v * 1000 for v in by_minute[minute]]
        p50, p95 = pct(values, 0.5), pct(values, 0.95)
        print(f"{minute:>6} {len(values):>6} {p50:>8.0f} {p95:>8.0f}")


async def main(args: argparse.Namespace) -> None:
    async with open_fault_stack(voice=args.voice_calls > 0) as stack:
        chat_api = await start_chat_api(stack)
        try:
            await soak(stack, chat_api, args)
        finally:
            chat_api.stop()


async def soak(stack: FaultStack, chat_api: Proc, args: argparse.Namespace) -> None:
    procs = [stack.redis, stack.temporal, stack.llm, *stack.workers, stack.api, chat_api]
    procs += [p for p in (stack.emulator, *stack.gateways) if p is not None]
    pids = {p.name: p.pid for p in procs}
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
            asyncio.create_task(one_call(api, started, deadline, args.gap, turns))
            for _ in range(args.calls)
        ]
        calls += [
            asyncio.create_task(voice_call(stack, acs, started, deadline, voice))
            for _ in range(args.voice_calls)
        ]
        await asyncio.sleep(min(WARM_UP_S, args.minutes * 60 / 4))
        before = rss_mb(pids)
        await asyncio.gather(*calls)
        after = rss_mb(pids)
        await asyncio.sleep(3)  # the last phone turns being stored
        lost, duplicated = await check_stored(api, turns)
        voice_stored, voice_lost, voice_duplicated = await check_voice(stack, voice)
        stop.set()
        await script

        print(f"\nsoak: {args.calls} chat calls for {args.minutes} min, a turn every {args.gap} s")
        print_minutes("chat turn round trip (POST → reply)", turns.rtt)
        total = sum(len(v) for v in turns.sent.values())
        print(f"chat turns acknowledged {total}, lost {lost}, duplicated {duplicated}")
        print(f"failed attempts (resent): {dict(turns.failed) or 'none'}")
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
            print(f"calls not in progress at the end: {dict(voice.not_live) or 'none'}")
            print(f"calls the caller could not go on in: {dict(voice.broken) or 'none'}")
        print(f"\n{'process':>10} {'RSS start MB':>13} {'RSS end MB':>11} {'growth':>7}")
        for name in pids:
            growth = (after[name] / before[name] - 1) * 100
            print(f"{name:>10} {before[name]:>13.1f} {after[name]:>11.1f} {growth:>6.1f}%")

        for connection in voice.connections:
            with contextlib.suppress(Exception):
                await acs.hang_up(connection)

        if args.burst:
            times, errors = await burst(api, args.burst)
            values = [t * 1000 for t in times]
            print(f"\nburst: {args.burst} concurrent POST /call")
            if values:
                print(
                    f"p50 {pct(values, 0.5):.0f} ms  p95 {pct(values, 0.95):.0f} ms  "
                    f"max {max(values):.0f} ms  ok {len(values)}  errors {dict(errors) or 0}"
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--voice-calls", type=int, default=20)
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--gap", type=float, default=10.0)
    parser.add_argument("--burst", type=int, default=1000)
    asyncio.run(main(parser.parse_args()))
    sys.stdout.flush()
    os._exit(0)  # temporalio can crash at interpreter exit (sdk-python#300)
