"""Orchestration overhead of one caller turn, with an LLM that answers instantly.

N concurrent text calls each send paced turns (an update per turn, as the media gateway does).
For every turn it measures:
  - update sent → LLM request received by the (scripted, zero-latency) LLM server;
  - update sent → first sentence readable in the call's Redis stream.
The dev server is tuned as in `core/devserver.py`; the worker and the LLM server run as
separate processes, like in production. Prints p50/p95 per N.

    python bench/turn_overhead.py [--calls 1 20 50] [--turns 10] [--gap 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx
from redis.asyncio import Redis
from temporalio.client import Client, WorkflowUpdateStage

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._processes import TASK_QUEUE, cpu_seconds, run_stack  # noqa: E402
from bench._report import pct  # noqa: E402
from core.settings import TemporalSettings  # noqa: E402
from core.temporal import connect  # noqa: E402
from domain.call import CallInitiate  # noqa: E402
from domain.contracts import CallInput, UserTurn  # noqa: E402
from providers.sentences.redis_stream import RedisSentenceStream  # noqa: E402
from workflows.call import CallWorkflow  # noqa: E402

REPLY = "Thank you, I have noted that. What else can you tell me?"


async def one_call(
    client: Client,
    redis: Redis,
    llm: httpx.AsyncClient,
    task_queue: str,
    turns: int,
    gap: float,
) -> tuple[list[float], list[float]]:
    call_id = str(uuid.uuid4())
    initiate = CallInitiate(
        phone_number="+33612345678",
        bot_company="Contoso",
        bot_name="Amélie",
        agent_phone_number="+33600000000",
    )
    handle = await client.start_workflow(
        CallWorkflow.run,
        CallInput(call_id=call_id, initiate=initiate),
        id=f"call-{call_id}",
        task_queue=task_queue,
    )
    stream = RedisSentenceStream(redis)
    sent_at: list[float] = []
    to_sentence: list[float] = []
    last_id = "0-0"
    await asyncio.sleep(random.uniform(0, gap))  # spread the calls' phases
    for turn in range(1, turns + 1):
        sent = time.time()
        sent_at.append(sent)
        update = await handle.start_update(
            CallWorkflow.user_turn,
            UserTurn(text=f"turn {turn}: my car was hit on the A6.", turn_id=turn, channel="voice"),
            wait_for_stage=WorkflowUpdateStage.ACCEPTED,
        )
        while True:
            entries = await stream.read(call_id, after=last_id, block_ms=5_000)
            if not entries:
                raise RuntimeError(f"no sentence for turn {turn} of {call_id}")
            last_id = entries[-1][0]
            if any(e.turn_id == turn and e.kind == "sentence" for _, e in entries):
                to_sentence.append((time.time() - sent) * 1000)
                break
        await update.result()
        await asyncio.sleep(gap * random.uniform(0.5, 1.5))
    await handle.terminate("benchmark done")
    # The first LLM request of each turn (a retried activity under load sends another).
    requests = (await llm.get("/_requests", params={"user": call_id})).json()
    first: dict[int, float] = {}
    for r in requests:
        said = [m.get("content") or "" for m in r["messages"] if m.get("role") == "user"]
        number = next((n for n in range(turns, 0, -1) if said and f"turn {n}:" in said[-1]), 0)
        first.setdefault(number, r["received_at"])
    to_llm = [(first[n] - s) * 1000 for n, s in enumerate(sent_at, start=1) if n in first]
    return to_llm, to_sentence


async def measure(args: argparse.Namespace) -> None:
    async with run_stack("bench-turn-") as stack:
        processes = stack.processes  # the dev server, the LLM and the worker
        client = await connect(TemporalSettings(address=stack.temporal_address))
        redis = Redis.from_url(stack.redis_url)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.llm_port}") as llm:
            await llm.post("/_script", json={"default": {"text": REPLY}})
            await one_call(client, redis, llm, TASK_QUEUE, 3, 0.1)  # warm-up
            print(
                f"{'calls':>5} {'turns':>6} | {'→ LLM p50':>10} {'p95':>7} | "
                f"{'→ sentence p50':>15} {'p95':>7}   (ms)"
            )
            for n in args.calls:
                await llm.post("/_reset")
                await llm.post("/_script", json={"default": {"text": REPLY}})
                pids = [p.pid for p in processes] + [os.getpid()]
                before = [cpu_seconds(pid) for pid in pids]
                results = await asyncio.gather(
                    *(
                        one_call(client, redis, llm, TASK_QUEUE, args.turns, args.gap)
                        for _ in range(n)
                    )
                )
                used = [cpu_seconds(pid) - b for pid, b in zip(pids, before, strict=True)]
                to_llm = [v for r in results for v in r[0]]
                to_sentence = [v for r in results for v in r[1]]
                print(
                    f"{n:>5} {len(to_llm):>6} | {statistics.median(to_llm):>10.1f} "
                    f"{pct(to_llm, 0.95):>7.1f} | {statistics.median(to_sentence):>15.1f} "
                    f"{pct(to_sentence, 0.95):>7.1f} | "
                    + " ".join(
                        f"{u * 1000 / len(to_llm):6.1f}"
                        for u in (used[0], used[2], used[1], used[3])
                    )
                )
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 20, 50])
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--gap", type=float, default=1.0, help="mean seconds between turns")
    asyncio.run(measure(parser.parse_args()))
    sys.stdout.flush()
    os._exit(0)  # temporalio may crash at interpreter exit (sdk-python#300)


if __name__ == "__main__":
    main()
