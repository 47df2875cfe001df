"""An outbound campaign of 1,000 contacts through the whole phone stack, in one process: the
Temporal dev server, Redis, the scripted LLM, a worker, the API, the media gateway and the ACS
emulator (the test suite's `open_phone`).

The emulator's phones give mixed outcomes: answering machines (answer, greeting, beep, record
`--message-ms`, hang up), busy lines, phones that ring out, rejections; some numbers are on the
do-not-call list. It prints the contacts, the duration, the outcomes (contacts and attempts),
the most calls at once (measured at the emulator, every leg from ring to end), the dials, and
the campaign workflow's runs with the largest history of one run (events and bytes), then
checks every contact was accounted for once, nobody on the list dialled, the limit kept.

    python bench/campaign.py [--contacts 1000] [--concurrency 20] [--rotate 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from temporalio.testing import WorkflowEnvironment  # noqa: E402

from core.devserver import TUNED_ARGS, temporal_binary  # noqa: E402
from core.redis_server import RedisProcess  # noqa: E402
from domain.campaign import campaign_workflow_id  # noqa: E402
from providers.flags.redis_flags import RedisFlags  # noqa: E402
from scripted_llm.runner import ScriptedLlmServer  # noqa: E402
from tests.campaigns.harness import (  # noqa: E402
    attempts_of,
    create_campaign,
    max_overlap,
    phone_intervals,
    wait_finished,
)
from tests.conftest import SEARCH_ATTRIBUTES  # noqa: E402
from tests.support.codec import codec_converter  # noqa: E402
from tests.telephony.test_phone_calls import ONE_LANGUAGE, open_phone  # noqa: E402

KINDS = ["voicemail", "busy", "never", "voicemail", "reject", "never", "busy", "voicemail"]
RETRY = {
    "no_answer": {"delay_sec": 2, "count": 1},
    "busy": {"delay_sec": 1, "count": 2},
    "voicemail": {"delay_sec": 2, "count": 1},
    "failed": {"delay_sec": 1, "count": 1},
}


async def main(args: argparse.Namespace) -> int:
    redis = RedisProcess().start()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=codec_converter(),
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_extra_args=list(TUNED_ARGS),
        dev_server_log_level="error",
    )
    try:
        async with ScriptedLlmServer() as llm:
            with tempfile.TemporaryDirectory() as tmp:
                async for phone in open_phone(env, redis.url, llm, Path(tmp)):
                    return await run(phone, args)
    finally:
        await env.shutdown()
        redis.stop()
    return 1


async def run(phone: object, args: argparse.Namespace) -> int:
    from tests.telephony.test_phone_calls import Phone

    assert isinstance(phone, Phone)
    await phone.phones.configure(ring_timeout_ms=args.ring_ms)
    # Calls end their workflow when they end (no wait for a call back): less load, same dials.
    flags = RedisFlags(phone.redis, key=phone.settings.flags.redis_key, ttl_sec=0)
    await flags.set("callback_timeout_hour", "0")
    phone.settings.campaigns.rotate_after_events = args.rotate
    numbers = [f"+3361{index:07d}" for index in range(args.contacts)]
    kinds = {n: KINDS[i % len(KINDS)] for i, n in enumerate(numbers)}
    for number, kind in kinds.items():
        await phone.phones.add_phone(
            number,
            answer=kind,  # type: ignore[arg-type]
            message_max_ms=args.message_ms,
        )
    listed = set(numbers[::50])  # 2 %: on the do-not-call list
    contacts = [{"phone_number": n, "variables": {"first_name": f"P{i}"}} for i, n in
                enumerate(numbers)]  # fmt: skip
    started = time.monotonic()
    campaign_id = await create_campaign(
        phone.api,
        contacts,
        name="bench",
        call={"task": "Call {first_name} about their claim.", "lang": ONE_LANGUAGE},
        concurrency=args.concurrency,
        starts_per_second=None,
        retry=RETRY,
        do_not_call=sorted(listed),
    )
    view = await wait_finished(phone.api, campaign_id, timeout=args.timeout)
    duration = time.monotonic() - started

    attempts = await attempts_of(phone.settings, campaign_id)
    records = [r for r in await phone.phones.calls() if r.direction == "outbound"]
    dialled = Counter(r.phone_number for r in records)
    runs = []
    query = f"WorkflowId = '{campaign_workflow_id(campaign_id)}'"
    async for execution in phone.client.list_workflows(query):
        handle = phone.client.get_workflow_handle(execution.id, run_id=execution.run_id)
        info = (await handle.describe()).raw_description.workflow_execution_info
        runs.append((info.history_length, info.history_size_bytes))
    peak = max_overlap(phone_intervals(records))

    print(f"contacts          {view['contacts']}")
    print(f"duration          {duration:.1f} s (concurrency {args.concurrency}; loaded box)")
    print(f"outcomes          {dict(sorted(view['outcomes'].items()))}")
    print(f"attempts          {dict(Counter(a.outcome for a in attempts))}")
    print(f"dials             {len(attempts)} (emulator saw {len(records)})")
    print(f"max concurrent    {peak} at the phones (limit {args.concurrency})")
    print(
        f"history           {len(runs)} runs; largest {max(e for e, _ in runs)} events, "
        f"{max(b for _, b in runs) / 1024:.0f} KiB (continue-as-new past {args.rotate} events)"
    )
    problems = []
    if view["states"] != {"done": args.contacts}:
        problems.append(f"contacts not all done: {view['states']}")
    if sum(view["outcomes"].values()) != args.contacts:
        problems.append("outcomes do not add up to the contacts")
    if listed & set(dialled):
        problems.append(f"{len(listed & set(dialled))} numbers on the list were dialled")
    if peak > args.concurrency:
        problems.append(f"{peak} calls at once, over the limit")
    if len(records) != len(attempts):
        problems.append("the emulator's calls and the recorded attempts differ")
    print("checks            " + ("all passed" if not problems else "; ".join(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--contacts", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rotate", type=int, default=1_000, help="continue-as-new past N events")
    parser.add_argument("--ring-ms", type=float, default=400)
    parser.add_argument("--message-ms", type=float, default=300)
    parser.add_argument("--timeout", type=float, default=1_800)
    sys.exit(asyncio.run(main(parser.parse_args())))
