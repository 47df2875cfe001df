"""One trial of every phone-path fault case: the ACS emulator's scripted caller, two media
gateway processes (tone engines, `bench/_faults_voice.py`), workers, API, Temporal, Redis and
the LLM, each its own OS process, SIGKILLed by pid (cases: `bench/_faults_phone.py`).

What the caller said, what the workflow stored and what the phone received (decoded tone by
tone) must agree: no turn lost or answered as a fragment, none stored twice, no sentence stored
as said that the phone did not hear, none heard twice; after a worker SIGKILL the next bot audio
within 2 s, after a Temporal restart within the restart time + 2 s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bench._faults_cases import Case
from bench._faults_phone import PHONE_CASES, run_phone_trial
from bench._faults_stack import FaultStack, open_fault_stack

pytestmark = [pytest.mark.faults, pytest.mark.timeout(150)]


@pytest.fixture(scope="module")
async def phone_stack() -> AsyncIterator[FaultStack]:
    async with open_fault_stack(voice=True) as stack:
        yield stack


@pytest.mark.parametrize("case", PHONE_CASES, ids=[c.name for c in PHONE_CASES])
async def test_phone_fault_case(phone_stack: FaultStack, case: Case) -> None:
    trial = await run_phone_trial(phone_stack, case)
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
