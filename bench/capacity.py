"""The per-turn figures the capacity model of docs/deploy.md is built from, measured.

Starts the evaluation's stack (`evals/stack.py`: a private Redis, the Temporal dev server, the
scripted LLM, the worker and the API, each its own process), places `--calls` chat calls and
sends `--turns` turns to each, then reads:
  - Temporal actions per call and per turn (`activities.usage.count_actions` on each history,
    the same count a call's cost uses) and history events per turn;
  - Redis commands per turn (`INFO commandstats` before and after; the chat path: the worker's
    sentence appends, flags, idempotency keys; a phone call adds the gateway's stream reads);
  - CPU seconds per turn of the Temporal server, the worker and the API (from /proc).
Then prints the model for `--concurrent` calls with a caller turn every `--turn-every` seconds:
turns per second, Temporal actions per second and per month (and their price at the settings'
default), Redis commands per second, and the cores of server + worker that CPU per turn implies.

    python bench/capacity.py [--calls 5] [--turns 10] [--concurrent 1000] [--turn-every 12]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import httpx
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from activities.usage import count_actions  # noqa: E402
from domain import attributes  # noqa: E402
from domain.prices import PriceTable  # noqa: E402
from evals.stack import Backend, running_stack  # noqa: E402

SECONDS_PER_MONTH = 30 * 24 * 3600
# A 5-minute call of 20 caller turns (the reference's example): one turn every ~15 s of call,
# the bot's answers included. 12 s is the busier end.
DEFAULT_TURN_EVERY_S = 12.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def redis_commands(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if not k.endswith("info"))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--concurrent", type=int, default=1000)
    parser.add_argument("--turn-every", type=float, default=DEFAULT_TURN_EVERY_S)
    args = parser.parse_args()

    backend = Backend(kind="scripted", scripted_reply="Noted, thank you. Anything else?")
    async with running_stack(backend) as stack:
        redis = Redis.from_url(stack.redis_url)
        named = {"temporal": stack.processes[0].pid, "worker": stack.processes[-2].pid}
        named["api"] = stack.processes[-1].pid
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=120) as api:
            call_ids = []
            for _ in range(args.calls):
                response = await api.post("/call", json={"phone_number": "+33612345678"})
                response.raise_for_status()
                call_ids.append(response.json()["call_id"])
            await asyncio.sleep(2)  # the greetings and first saves
            commands0 = await redis_commands(redis)
            cpu0 = {name: cpu_seconds(pid) for name, pid in named.items()}
            events0 = {}
            for call_id in call_ids:
                handle = stack.temporal.get_workflow_handle(attributes.workflow_id_for(call_id))
                events0[call_id] = (await handle.fetch_history()).events
            started = time.monotonic()

            async def talk(call_id: str) -> None:
                for n in range(args.turns):
                    body = {"text": f"Turn {n}: my car was hit near the station.", "turn_id": n + 1}
                    response = await api.post(f"/call/{call_id}/messages", json=body)
                    response.raise_for_status()

            await asyncio.gather(*(talk(c) for c in call_ids))
            elapsed = time.monotonic() - started
            await asyncio.sleep(1)
            commands = await redis_commands(redis) - commands0
            cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in named.items()}
            actions = events = 0
            for call_id in call_ids:
                handle = stack.temporal.get_workflow_handle(attributes.workflow_id_for(call_id))
                after = list((await handle.fetch_history()).events)
                before = list(events0[call_id])
                actions += count_actions(after) - count_actions(before)
                events += len(after) - len(before)
        await redis.aclose()

    turns = args.calls * args.turns
    per_turn = {
        "temporal actions": actions / turns,
        "history events": events / turns,
        "redis commands": commands / turns,
        **{f"CPU ms, {name}": 1000 * seconds / turns for name, seconds in cpu.items()},
    }
    print(f"{turns} turns over {args.calls} chat calls in {elapsed:.1f} s (scripted LLM)")
    print("| per caller turn | measured |\n|---|---|")
    for name, value in per_turn.items():
        print(f"| {name} | {value:.1f} |")

    rate = args.concurrent / args.turn_every
    actions_s = rate * per_turn["temporal actions"]
    month = actions_s * SECONDS_PER_MONTH
    price = PriceTable().temporal_per_million_actions
    cores = rate * (per_turn["CPU ms, temporal"] + per_turn["CPU ms, worker"]) / 1000
    print(
        f"\n{args.concurrent} concurrent calls, a caller turn every {args.turn_every:.0f} s:"
        f"\n| figure | value |\n|---|---|"
        f"\n| caller turns per second | {rate:.0f} |"
        f"\n| Temporal actions per second (turns only) | {actions_s:.0f} |"
        f"\n| Temporal actions per month, always busy | {month / 1e6:,.0f} M |"
        f"\n| their price at ${price:g}/M (list price) | ${month / 1e6 * price:,.0f} |"
        f"\n| Redis commands per second (chat path) | {rate * per_turn['redis commands']:,.0f} |"
        f"\n| cores for the Temporal dev server + worker at this CPU per turn | {cores:.1f} |"
    )


if __name__ == "__main__":
    asyncio.run(main())
