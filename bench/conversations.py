"""Conversation quality: every scenario of `evals/scenarios/` played against the running stack.

Starts the stack (dev server, Redis, the LLM, worker, API) as separate processes, plays each
scenario through `POST /call` and `POST /call/{id}/messages`, and prints one row per scenario
and the totals (the metrics are defined in `evals/metrics.py`).

    python bench/conversations.py                          # the installed local model (0.5B)
    python bench/conversations.py --gguf FILE.gguf [--chat-template qwen2.5] [--threads 4]
    python bench/conversations.py --llm-url https://HOST/v1 --model NAME --api-key-env VAR
    python bench/conversations.py --scripted               # the scripted LLM (plumbing only)
    python bench/conversations.py --scripted --profile small --reply "I'm sorry, but I can't."
    python bench/conversations.py --held-out               # the held-out scenarios
        [--profile small|full] [--guardrails on|off] [--only NAME ...] [-v] [--json FILE]
        [--caller-llm-url URL --caller-model NAME --caller-api-key-env VAR]  # a model calls
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evals.caller import ModelCaller  # noqa: E402
from evals.metrics import Played, Score, dump, load_played, score, summary, table  # noqa: E402
from evals.runner import evaluate  # noqa: E402
from evals.scenario import HELD_OUT_DIR, SCENARIOS_DIR, load_all  # noqa: E402
from evals.stack import Backend, running_stack  # noqa: E402

TURN_TIMEOUT_S = 600.0  # a local model on a busy CPU can take minutes for one turn


def backend_from(args: argparse.Namespace) -> Backend:
    guardrails = None if args.guardrails is None else args.guardrails == "on"
    if args.scripted:
        return Backend(
            "scripted", profile=args.profile, guardrails=guardrails, scripted_reply=args.reply
        )
    if args.llm_url:
        return Backend(
            "url",
            url=args.llm_url,
            model=args.model,
            api_key_env=args.api_key_env,
            profile=args.profile,
            guardrails=guardrails,
        )
    return Backend(
        "local",
        gguf=args.gguf,
        chat_template=args.chat_template,
        threads=args.threads,
        profile=args.profile,
        guardrails=guardrails,
    )


def caller_from(args: argparse.Namespace) -> Callable[[], ModelCaller] | None:
    """A fresh model caller per scenario, or None for the scripted lines."""
    if not args.caller_llm_url:
        return None
    key = os.environ.get(args.caller_api_key_env, "none") if args.caller_api_key_env else "none"
    return lambda: ModelCaller(args.caller_llm_url, args.caller_model, key)


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.decode().strip()


async def measure(args: argparse.Namespace) -> list[Score]:
    scenarios = load_all(args.dir, only=args.only or None)
    backend = backend_from(args)
    started = datetime.now(UTC)
    print(f"# {len(scenarios)} scenarios, {backend.describe()}", flush=True)
    print(f"# {started:%Y-%m-%d %H:%M} UTC, commit {commit()}", flush=True)

    def progress(result: Score, played: Played) -> None:
        if args.save:
            with args.save.open("a", encoding="utf-8") as out:
                out.write(dump(played) + "\n")
        print(
            f"- {result.name}: {result.right}/{result.given} right, {len(played.turns)} turns",
            flush=True,
        )
        if args.verbose:
            print(f"    bot: {played.greeting}")
            for turn in played.turns:
                print(f"    caller: {turn.said}\n    bot: {turn.reply}  {turn.tool_calls or ''}")
            for note in result.notes:
                print(f"    ! {note}")
            print(f"    claim: {played.final.get('claim')}", flush=True)

    async with running_stack(backend) as stack:
        print(f"# stack logs in {stack.work}", flush=True)
        async with httpx.AsyncClient(base_url=stack.api_url, timeout=TURN_TIMEOUT_S) as api:
            scores = await evaluate(
                api, scenarios, after=stack.end_call, caller=caller_from(args), progress=progress
            )
    minutes = (datetime.now(UTC) - started).total_seconds() / 60
    print(f"\n{table(scores)}\n\n{summary(scores)}\n(ran {minutes:.0f} min)", flush=True)
    if args.json:
        args.json.write_text(json.dumps([asdict(s) for s in scores], indent=1), encoding="utf-8")
    return scores


def rescore(path: Path) -> None:
    """Score saved transcripts again (after a metric changed) and print the table."""
    known = {s.name: s for d in (SCENARIOS_DIR, HELD_OUT_DIR) for s in load_all(d)}
    played = [load_played(line, known) for line in path.read_text().splitlines() if line]
    print(f"{table([score(p) for p in played])}\n\n{summary([score(p) for p in played])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    llm = parser.add_mutually_exclusive_group()
    llm.add_argument("--scripted", action="store_true", help="the scripted LLM (plumbing only)")
    llm.add_argument("--llm-url", help="an OpenAI-compatible base URL (…/v1)")
    llm.add_argument("--gguf", type=Path, help="a local GGUF model (default: the installed one)")
    parser.add_argument("--model", default="local", help="the model name the endpoint serves")
    parser.add_argument("--api-key-env", help="environment variable holding the endpoint's key")
    parser.add_argument("--chat-template", help="a fixed chat template for a local GGUF")
    parser.add_argument("--threads", type=int, default=2, help="local model threads")
    parser.add_argument("--profile", choices=["small", "full"], help="llm.profile")
    parser.add_argument("--guardrails", choices=["on", "off"], help="llm.guardrails")
    parser.add_argument("--only", nargs="+", help="scenario names")
    parser.add_argument(
        "--held-out",
        dest="dir",
        action="store_const",
        const=HELD_OUT_DIR,
        default=SCENARIOS_DIR,
        help="the held-out scenarios (evals/heldout), never used to tune the policy",
    )
    parser.add_argument(
        "--reply",
        help="with --scripted: what the scripted model answers every turn (a small model's "
        "typical faults, to measure what the policy does with them)",
    )
    parser.add_argument(
        "--caller-llm-url", help="a second model plays the caller (OpenAI-compatible …/v1)"
    )
    parser.add_argument("--caller-model", default="local", help="the caller model's name")
    parser.add_argument("--caller-api-key-env", help="environment variable of its key")
    parser.add_argument("--json", type=Path, help="also write the scores as JSON")
    parser.add_argument(
        "--save", type=Path, help="write the transcripts and final states (JSON lines)"
    )
    parser.add_argument(
        "--rescore", type=Path, help="score transcripts saved with --save (no stack, no LLM)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print the transcripts")
    args = parser.parse_args()
    # `kill` stops the run like Ctrl-C does: the stack's processes are stopped on the way out.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.rescore:
        rescore(args.rescore)
    else:
        asyncio.run(measure(args))
    sys.stdout.flush()
    os._exit(0)  # temporalio may crash at interpreter exit (sdk-python#300)


if __name__ == "__main__":
    main()
