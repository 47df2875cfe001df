"""Load and soak through the public API: many chat calls for a long time, then a burst of calls.

The stack runs as separate processes (dev server, scripted LLM, worker, Redis as in
`bench/_processes.py`, plus the API under uvicorn). For `--minutes`, `--calls` concurrent chat
calls each send a turn every `--gap` seconds through `POST /call/{id}/messages` with a turn id.
Afterwards every call's stored messages are compared with what was sent: a turn missing from
the workflow is lost, a turn stored twice is duplicated. It prints:
  - RSS of every process after warm-up and at the end (growth in %);
  - the turn round trip (POST sent → reply received) p50/p95 per window of the run;
  - then `--burst` concurrent `POST /call`: p50/p95/max and the error count.

    python bench/soak.py [--calls 100] [--minutes 20] [--gap 10] [--burst 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._processes import BenchStack, run_stack, wait_port  # noqa: E402
from bench._report import pct  # noqa: E402
from core.redis_server import free_port  # noqa: E402

WARM_UP_S = 60.0


@dataclass
class Turns:
    """Every turn's outcome, by the minute it was sent in."""

    rtt: dict[int, list[float]] = field(default_factory=dict)
    failed: Counter[str] = field(default_factory=Counter)
    sent: dict[str, list[int]] = field(default_factory=dict)  # call id → acknowledged turn ids


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


async def start_api(stack: BenchStack) -> tuple[str, int]:
    port = free_port()
    process = stack.spawn(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "api.main:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
    )
    await wait_port(port)
    return f"http://127.0.0.1:{port}", process.pid


async def main(args: argparse.Namespace) -> None:
    async with run_stack("callcenter-soak-") as stack:
        url, _ = await start_api(stack)
        pids = {"temporal": stack.processes[0].pid, "llm": stack.processes[1].pid}
        pids["worker"] = stack.processes[2].pid
        pids["api"] = stack.processes[3].pid
        limits = httpx.Limits(max_connections=args.burst + args.calls)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as api:
            turns = Turns()
            started = time.monotonic()
            deadline = started + args.minutes * 60
            calls = [
                asyncio.create_task(one_call(api, started, deadline, args.gap, turns))
                for _ in range(args.calls)
            ]
            await asyncio.sleep(min(WARM_UP_S, args.minutes * 60 / 4))
            before = rss_mb(pids)
            await asyncio.gather(*calls)
            after = rss_mb(pids)
            lost, duplicated = await check_stored(api, turns)

            print(
                f"\nsoak: {args.calls} chat calls for {args.minutes} min, a turn every {args.gap} s"
            )
            print(f"{'minute':>6} {'turns':>6} {'p50 ms':>8} {'p95 ms':>8}")
            for minute in sorted(turns.rtt):
                values = [v * 1000 for v in turns.rtt[minute]]
                p50, p95 = pct(values, 0.5), pct(values, 0.95)
                print(f"{minute:>6} {len(values):>6} {p50:>8.0f} {p95:>8.0f}")
            total = sum(len(v) for v in turns.sent.values())
            print(f"turns acknowledged {total}, lost {lost}, duplicated {duplicated}")
            print(f"failed attempts (resent): {dict(turns.failed) or 'none'}")
            print(f"{'process':>10} {'RSS start MB':>13} {'RSS end MB':>11} {'growth':>7}")
            for name in pids:
                growth = (after[name] / before[name] - 1) * 100
                print(f"{name:>10} {before[name]:>13.1f} {after[name]:>11.1f} {growth:>6.1f}%")

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
    parser.add_argument("--minutes", type=float, default=20)
    parser.add_argument("--gap", type=float, default=10.0)
    parser.add_argument("--burst", type=int, default=1000)
    asyncio.run(main(parser.parse_args()))
    sys.stdout.flush()
    os._exit(0)  # temporalio can crash at interpreter exit (sdk-python#300)
