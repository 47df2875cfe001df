"""One trial of every chat-channel fault case: real processes, each SIGKILLed by pid.

The stack (`bench/_faults_stack.py`) runs Redis, the Temporal dev server on its own SQLite
file, the scripted LLM streaming a ten-sentence answer for ~3 s, two workers and the API, each
its own OS process; the cases are `bench/_faults_cases.py`'s (`bench/faults.py` runs them
several times and prints the matrix). Targets for every case: no turn lost, none stored twice,
no sentence stored as said that the stream never carried, none carried twice; after a worker
SIGKILL the next sentence within 2 s, after a Temporal restart within the restart time + 2 s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bench._faults_cases import CASES, Case, run_trial
from bench._faults_stack import FaultStack, open_fault_stack

pytestmark = [pytest.mark.faults, pytest.mark.timeout(150)]


@pytest.fixture(scope="module")
async def fault_stack() -> AsyncIterator[FaultStack]:
    async with open_fault_stack() as stack:
        yield stack


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_fault_case(fault_stack: FaultStack, case: Case) -> None:
    trial = await run_trial(fault_stack, case)
    seen = (
        f"{case.title}: lost={trial.lost} dup={trial.duplicated} unheard={trial.unheard} "
        f"heard2x={trial.heard_twice} gap={trial.gap_s} restart={trial.restart_s:.2f} "
        f"between={trial.between} notes={trial.notes}"
    )
    assert trial.lost == 0, seen
    assert trial.duplicated == 0, seen
    assert trial.unheard == 0, seen
    assert trial.heard_twice == 0, seen
    assert trial.gap_s is not None, seen
    if case.gap_target_s is not None:
        assert trial.gap_s <= trial.restart_s + case.gap_target_s, seen
