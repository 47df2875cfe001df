"""The regression gate of the small-model policy: a reduced conversation evaluation.

Eight scenarios (several facts at once, a correction, a call back, a language switch, a
jailbreak, a prompt leak, questions, small talk) are played
through the real stack (dev server, Redis, worker and API processes) with the small profile and
guardrails, as `make demo` runs a local model. The model is the scripted LLM answering what the
0.5B model answers at its worst (measured in evals/README.md): stock refusals, two questions at
once, the caller parroted, invented values and tool syntax. The policy must still reach the
issue's targets; a change that makes the bot re-ask, refuse, repeat itself or lose a fact fails
here. Two more scenarios, held in Spanish and in German from their first line, hold the policy
to the same targets in the call's own language. That each fault is counted by the metrics is
`test_conversation_eval.py`'s. (The local
model itself is measured by `bench/conversations.py`: minutes per run.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from evals.metrics import Score, score, total
from evals.runner import play
from evals.scenario import Scenario, load_all
from evals.stack import Backend, EvalStack, running_stack

pytestmark = pytest.mark.timeout(150)

GATE = [
    "car_several_facts",
    "car_corrects_self",
    "car_jailbreak_jokes",
    "delivery_off_topic",
    "it_support_callback",
    "it_support_prompt_leak",
    "medical_appointment",
    "water_switches_to_french",
]
# What the small model says when it goes wrong, one reply per model round, in turn.
FAULTS: list[dict[str, Any]] = [
    {"text": "I'm sorry, but I can't assist with that. What is your name and your email?"},
    {"text": "Hi, a truck hit the back of my car on the A6 near Lyon."},  # a caller parroted
    {
        "text": "Thank you, John. Your claim 12345 has been filed.",  # invented
        "tool_calls": [
            {
                "name": "updated_claim",
                "arguments": {"updates": [{"field": "policyholder_name", "value": "John Doe"}]},
            }
        ],
    },
    {"text": 'Could you tell me the hardware info: hardware info? {"name": "updated_claim"}'},
    {"text": "I'm sorry to hear that."},  # usable once, a repeat after
]


@pytest.fixture(scope="module")
async def gate_stack() -> AsyncIterator[EvalStack]:
    backend = Backend("scripted", profile="small", guardrails=True)
    async with running_stack(backend) as stack:
        yield stack


async def play_with_faults(stack: EvalStack, scenario: Scenario) -> Score:
    llm = stack.llm_url.removesuffix("/v1")

    async def script(call_id: str) -> None:
        async with httpx.AsyncClient(base_url=llm) as client:
            body = {"replies": FAULTS * 4, "user": call_id, "default": FAULTS[0]}
            (await client.post("/_script", json=body)).raise_for_status()

    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as api:
        played = await play(api, scenario, before=script)
    await stack.end_call(played.call_id)
    return score(played)


async def test_the_small_policy_meets_the_targets_whatever_the_model_says(
    gate_stack: EvalStack,
) -> None:
    scores = [await play_with_faults(gate_stack, s) for s in load_all(only=GATE)]
    t = total(scores)
    notes = {s.name: s.notes for s in scores if s.notes}
    assert t.errors == 0, notes
    assert t.right >= 0.9 * t.given, notes  # >= 90 % of the caller's facts stored right
    assert t.wrong <= 1, notes
    assert (t.nonsense, t.reasked, t.repeated, t.broke) == (0, 0, 0, 0), notes
    assert t.double_questions <= 0.05 * t.bot_turns, notes
    assert t.unanswered == 0 and t.caller_questions >= 8, notes  # every question acknowledged
    assert t.lang_followed == t.lang_turns > 0, notes  # French after the switch
    assert t.tools_ok == t.tools_expected, notes  # the reminder, the switch, no hang-up


async def test_a_model_slower_than_its_budget_never_costs_the_turn(gate_stack: EvalStack) -> None:
    """On a loaded CPU a local model can take minutes for one sentence (measured 0.3 token/s):
    past its budget the bot says its own acknowledgement, and the turn's facts are stored."""
    scenario = next(iter(load_all(only=["water_out_of_order"])))
    llm = gate_stack.llm_url.removesuffix("/v1")
    slow = {"text": "I understand, that sounds stressful.", "delay_s": 30}

    async def script(call_id: str) -> None:
        async with httpx.AsyncClient(base_url=llm) as client:
            body = {"replies": [slow], "user": call_id, "default": slow}
            (await client.post("/_script", json=body)).raise_for_status()

    one_line = scenario.caller.model_copy(update={"lines": scenario.caller.lines[:1]})
    async with httpx.AsyncClient(base_url=gate_stack.api_url, timeout=60) as api:
        played = await play(api, scenario.model_copy(update={"caller": one_line}), before=script)
    await gate_stack.end_call(played.call_id)
    [turn] = played.turns
    assert turn.error is None and turn.latency_s < 20
    assert turn.reply == "I'm sorry to hear that. Could you tell me when the leak started?"
    assert {k for k, v in turn.claim_after.items() if v} == {
        "plumber_visited",
        "damaged_rooms",
        "leak_source",
    }


# The policy in the call's own language, not only English and French: the same targets.
IN_OTHER_LANGUAGES = ["es_delivery_callback", "de_it_support_jailbreak"]


async def test_the_small_policy_meets_the_targets_in_spanish_and_german(
    gate_stack: EvalStack,
) -> None:
    scores = [await play_with_faults(gate_stack, s) for s in load_all(only=IN_OTHER_LANGUAGES)]
    t = total(scores)
    notes = {s.name: s.notes for s in scores if s.notes}
    assert t.errors == 0, notes
    assert t.right == t.given, notes  # every fact, two at once included, stored in its field
    assert t.wrong == 0, notes
    assert (t.nonsense, t.reasked, t.repeated, t.broke) == (0, 0, 0, 0), notes
    assert t.double_questions == 0, notes
    assert t.unanswered == 0 and t.caller_questions == 3, notes
    # Every bot turn in the call's language (the first line sets it: each turn is measured).
    assert t.lang_followed == t.lang_turns == t.turns, notes
    assert t.tools_ok == t.tools_expected, notes  # the reminder; no hang-up, no transfer
