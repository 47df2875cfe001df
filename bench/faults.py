"""The fault matrix: each case's fault injected into live calls, `--trials` times each.

    .venv/bin/python bench/faults.py [--trials 5] [--cases worker-mid,phone-gateway-bot] [--keep]

Every service runs as its own OS process and is SIGKILLed by pid (`bench/_faults_stack.py`).
The chat cases (`bench/_faults_cases.py`) run on a stack without a phone line, the phone cases
(`bench/_faults_phone.py`) on one with the ACS emulator and two media gateways. Prints one line
per trial, then the matrix (loss counts summed over the trials, fault-to-next p50/max).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._faults_cases import BY_NAME, CASES, Case, Trial, run_trial, table
from bench._faults_phone import PHONE_BY_NAME, PHONE_CASES, run_phone_trial
from bench._faults_stack import open_fault_stack

ALL = {**BY_NAME, **PHONE_BY_NAME}


async def run_cases(cases: list[Case], trials: int, keep: bool, voice: bool) -> list[Trial]:
    results: list[Trial] = []
    if not cases:
        return results
    async with open_fault_stack(keep=keep, voice=voice) as stack:
        if keep:
            print(f"logs in {stack.work / 'logs'}")
        for case in cases:
            for index in range(trials):
                try:
                    trial = await (run_phone_trial if voice else run_trial)(stack, case)
                except Exception as exc:  # one broken trial must not hide the others' rows
                    trial = Trial(case.name, lost=1, notes=[f"trial failed: {exc!r}"])
                    await stack.heal_workers()
                results.append(trial)
                gap = "-" if trial.gap_s is None else f"{trial.gap_s:.2f}"
                print(
                    f"{case.name} #{index + 1}: lost={trial.lost} dup={trial.duplicated} "
                    f"unheard={trial.unheard} heard2x={trial.heard_twice} gap={gap}s "
                    f"restart={trial.restart_s:.2f}s between={trial.between} "
                    f"notes={trial.notes}",
                    flush=True,
                )
    return results


async def main(trials: int, names: list[str], keep: bool) -> list[Trial]:
    chat = [BY_NAME[n] for n in names if n in BY_NAME]
    phone = [PHONE_BY_NAME[n] for n in names if n in PHONE_BY_NAME]
    return [
        *await run_cases(chat, trials, keep, voice=False),
        *await run_cases(phone, trials, keep, voice=True),
    ]


def _commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--cases", default=",".join(ALL))
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and logs")
    args = parser.parse_args()
    names = [n.strip() for n in args.cases.split(",") if n.strip()]
    unknown = [n for n in names if n not in ALL]
    if unknown:
        parser.error(f"unknown cases {unknown}; known: {list(ALL)}")
    results = asyncio.run(main(args.trials, names, args.keep))
    print(f"\nfault matrix, commit {_commit()}, {args.trials} trial(s) per case\n")
    print(table(results, (*CASES, *PHONE_CASES)))
