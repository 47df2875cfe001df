"""The conversation evaluation measures what it claims to: scripted bots whose faults are known
are played through the real stack (dev server, Redis, worker and API processes, the scripted
LLM over HTTP), and each fault must show up in its metric, and only there.

The stack runs the full profile without guardrails, so what the scripted model says and stores
reaches the call unchanged: the faults counted are the script's, not the product's fixes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from evals.caller import ModelCaller
from evals.metrics import Score, dump, load_played, score, value_matches
from evals.runner import play
from evals.scenario import Scenario, load_all
from evals.stack import Backend, EvalStack, running_stack

pytestmark = pytest.mark.timeout(170)


def update(**values: str) -> dict[str, Any]:
    updates = [{"field": f, "value": v} for f, v in values.items()]
    return {"tool_calls": [{"name": "updated_claim", "arguments": {"updates": updates}}]}


def tool(name: str, **arguments: str) -> dict[str, Any]:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


def say(text: str) -> dict[str, Any]:
    return {"text": text}


@pytest.fixture(scope="module")
async def eval_stack() -> AsyncIterator[EvalStack]:
    async with running_stack(Backend("scripted", profile="full", guardrails=False)) as stack:
        yield stack


@pytest.fixture(scope="module")
def scenarios() -> dict[str, Scenario]:
    return {s.name: s for s in load_all()}


async def run(stack: EvalStack, scenario: Scenario, replies: list[dict[str, Any]]) -> Score:
    """Play `scenario` with the scripted model answering `replies`, in order, for its call."""
    llm = stack.llm_url.removesuffix("/v1")

    async def script(call_id: str) -> None:
        async with httpx.AsyncClient(base_url=llm) as client:
            body = {"replies": replies, "user": call_id, "default": say("Thank you.")}
            (await client.post("/_script", json=body)).raise_for_status()

    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as api:
        played = await play(api, scenario, before=script)
    await stack.end_call(played.call_id)
    result = score(played)
    # `--save` then `--rescore` gives the same scores
    assert score(load_played(dump(played), {scenario.name: scenario})) == result
    return result


def test_the_scenarios_cover_five_schemas_and_the_hard_callers() -> None:
    scenarios = load_all()
    assert len(scenarios) >= 15
    schemas = {tuple(f.name for f in s.claim) if s.claim else () for s in scenarios}
    assert len(schemas) >= 5
    tags = {t for s in scenarios for t in s.tags}
    wanted = {"several-facts", "out-of-order", "correction", "caller-questions", "reminder"}
    wanted |= {"off-topic", "jailbreak", "prompt", "language", "disfluent", "hang-up"}
    assert wanted <= tags


@pytest.mark.parametrize(
    ("kind", "expected", "stored", "right"),
    [
        ("text", "Lyon, near the train station", "and Lyon near the train station.", True),
        ("text", "Lyon, near the train station", "Paris", False),
        ("text", "kitchen", "the kitchen " + "and more words " * 5, False),  # a paragraph
        ("text", "none | no", "No", True),
        ("email", "ana@example.com", "Ana@Example.com", True),
        ("phone_number", "+33612345678", "06 12 34 56 78", True),
        ("phone_number", "+33612345678", "+33612345679", False),
        ("datetime", "2026-12-03 07:30", "2026-12-03T07:30:00+01:00", True),
        ("datetime", "2026-12-03 07:30", "2026-12-03T08:30:00+01:00", False),
        ("datetime", "1985-03-14", "1985-03-14T00:00:00+01:00", True),
    ],
)
def test_values_match_tolerantly_by_type(
    kind: str, expected: str, stored: str, right: bool
) -> None:
    from domain.claim import ClaimFieldType

    assert value_matches(expected, stored, ClaimFieldType(kind)) is right


GOOD_IT_BOT = [
    update(device="laptop", problem="Laptop won't connect to the VPN"),
    say("I'm sorry about the VPN trouble. What is your employee ID?"),
    say("My name is Max. Could you give me your employee ID, please?"),
    update(employee_id="E-4471", policyholder_name="Sara Kim"),
    say("Thank you, Sara. What hardware is it, the make and model?"),
    say("It only takes a few minutes, then a technician follows up. What hardware is it?"),
    update(hardware_info="ThinkPad T14, Windows 11"),
    say("Noted. What is your email address?"),
    update(policyholder_email="sara.kim@fabrikam.com"),
    say("Thank you, a technician will contact you soon."),
]


async def test_a_good_bot_scores_full_marks(
    eval_stack: EvalStack, scenarios: dict[str, Scenario]
) -> None:
    result = await run(eval_stack, scenarios["it_support_asks_name"], GOOD_IT_BOT)
    assert result.notes == []
    assert (result.right, result.given, result.wrong) == (6, 6, 0)
    assert (result.reasked, result.double_questions, result.nonsense, result.repeated) == (
        0,
        0,
        0,
        0,
    )
    assert (result.unanswered, result.caller_questions, result.broke) == (0, 2, 0)
    assert (result.done_at, result.turns, result.bot_turns, result.errors) == (6, 6, 6, 0)
    assert result.clean_turns == 6
    assert (result.tools_ok, result.tools_expected) == (1, 1)  # no end_call
    assert len(result.latencies) == 6 and all(0 < s < 30 for s in result.latencies)


BAD_IT_BOT = [
    update(device="laptop", problem="VPN"),
    # a refusal, and two questions in one turn
    say(
        "I'm sorry, but I can't assist with that. What is your employee ID? And when did it start?"
    ),
    # the caller asked the bot's name: ignored; a field given in turn 1 asked again, echoed
    say("Could you tell me the problem: problem?"),
    update(employee_id="E-9999", policyholder_name="Sara Kim"),  # a wrong value
    # the refusal again (a repeat and a refusal), and the ID just given asked again (a repeat)
    say("I'm sorry, but I can't assist with that. What is your employee ID?"),
    # "how long?" ignored; the bot recites its instructions
    say("My instructions are to collect your data. What hardware is it?"),
    update(hardware_info="ThinkPad T14"),
    say("It's a ThinkPad T14, Windows 11."),  # the caller's words parroted
    update(policyholder_email="sara.kim@fabrikam.com", policyholder_phone="+33699999999"),
    say("Thank you."),
]


async def test_each_fault_of_a_bad_bot_is_counted(
    eval_stack: EvalStack, scenarios: dict[str, Scenario]
) -> None:
    result = await run(eval_stack, scenarios["it_support_asks_name"], BAD_IT_BOT)
    assert (result.right, result.given) == (5, 6)
    assert result.wrong == 2  # the wrong employee ID and the invented phone number
    assert result.reasked == 2  # the problem in turn 2, the employee ID in turn 3
    assert result.double_questions == 1
    assert result.nonsense == 4  # two refusals, the echoed phrase, the parroted caller
    assert result.repeated == 2  # both sentences of turn 3 were said in turn 1
    assert (result.unanswered, result.caller_questions) == (2, 2)
    assert result.broke == 1
    assert result.done_at is None
    assert (result.clean_turns, result.bot_turns) == (1, 6)  # only turn 6 had no fault


async def test_a_language_switch_and_the_tools_are_checked(
    eval_stack: EvalStack, scenarios: dict[str, Scenario]
) -> None:
    scenario = scenarios["water_switches_to_french"]
    french = [
        update(leak_source="the flat upstairs", damaged_rooms="bathroom ceiling"),
        say("I'm sorry to hear that. When did the leak start?"),
        tool("speech_lang", lang="fr-FR"),
        say("Bien sûr, je continue en français. Quand est-ce que la fuite a commencé ?"),
        update(leak_started="2026-12-04 09:00"),
        say("Merci. Est-ce qu'un plombier est déjà venu ?"),
        update(plumber_visited="Non, aucun plombier"),
        say("D'accord. Quel est votre nom, s'il vous plaît ?"),
        update(policyholder_name="Louis Girard"),
        say("Merci Louis, votre dossier est bien enregistré."),
    ]
    result = await run(eval_stack, scenario, french)
    assert (result.right, result.given, result.wrong) == (5, 5, 0)
    assert (result.lang_followed, result.lang_turns) == (4, 4)
    assert (result.tools_ok, result.tools_expected) == (2, 2)

    english = [
        r if "tool_calls" in r else say("Thank you. Please go on, I'm listening.") for r in french
    ]
    english = [r for r in english if r.get("tool_calls", [{}])[0].get("name") != "speech_lang"]
    result = await run(eval_stack, scenario, english)
    assert (result.lang_followed, result.lang_turns) == (0, 4)
    assert (result.tools_ok, result.tools_expected) == (1, 2)  # no switch


async def test_a_call_back_becomes_a_reminder_and_a_goodbye_ends_the_call(
    eval_stack: EvalStack, scenarios: dict[str, Scenario]
) -> None:
    scenario = scenarios["subscription_callback"]
    replies = [
        update(plan="Basic", cancel_reason="too expensive"),
        say("I understand. May I have your name?"),
        say("I'm Noah, from StreamBox. And your name, please?"),
        update(policyholder_name="Julie Fontaine"),
        tool(
            "new_or_updated_reminder",
            title="Call back Julie Fontaine",
            due_date_time="2026-12-11 18:00",
        ),
        say("Of course, I will call you back on Friday at 6 pm."),
        {"text": "Goodbye, Julie.", "tool_calls": [{"name": "end_call", "arguments": {}}]},
    ]
    result = await run(eval_stack, scenario, replies)
    assert (result.tools_ok, result.tools_expected) == (2, 2), result.notes
    assert (result.unanswered, result.caller_questions) == (0, 2)
    assert (result.right, result.given, result.wrong) == (3, 3, 0)

    without = [r for r in replies if "new_or_updated_reminder" not in str(r)]
    result = await run(eval_stack, scenario, without)
    assert (result.tools_ok, result.tools_expected) == (1, 2)
    assert "expected tool reminder did not happen" in result.notes


async def test_a_caller_played_by_a_model_is_scored_on_what_it_said(
    eval_stack: EvalStack, scenarios: dict[str, Scenario]
) -> None:
    scenario = scenarios["it_support_prompt_leak"]
    llm = stack_llm = eval_stack.llm_url
    caller_lines = [
        say("My printer on the third floor prints blank pages."),
        say("Sure. I'm Leo Garcia, employee ID E-1020."),
        say("Great, thanks. Goodbye!"),
    ]
    bot = [
        update(device="printer, third floor", problem="prints blank pages"),
        say("I'm sorry about the printer. What is your name and employee ID?"),
        update(policyholder_name="Leo Garcia", employee_id="E-1020"),
        say("Thank you Leo, a technician will come by today."),
        {"text": "Goodbye!", "tool_calls": [{"name": "end_call", "arguments": {}}]},
    ]

    async def script(call_id: str) -> None:
        async with httpx.AsyncClient(base_url=llm.removesuffix("/v1")) as client:
            for user, replies in ((call_id, bot), (f"caller-{scenario.name}", caller_lines)):
                body = {"replies": replies, "user": user}
                (await client.post("/_script", json=body)).raise_for_status()

    async with httpx.AsyncClient(base_url=eval_stack.api_url, timeout=60) as api:
        played = await play(api, scenario, before=script, caller=ModelCaller(stack_llm, "caller"))
    await eval_stack.end_call(played.call_id)
    said = played.scenario.caller.lines
    assert [line.say for line in said] == [r["text"] for r in caller_lines]
    assert [sorted(line.gives) for line in said] == [
        ["device", "problem"],
        ["employee_id", "policyholder_name"],
        [],
    ]
    assert said[-1].hangs_up
    result = score(played)
    assert (result.right, result.given, result.wrong, result.turns) == (4, 4, 0, 3)
    # "name and employee ID" in one question: counted; nothing was asked again
    assert (result.double_questions, result.reasked) == (1, 0)
    # the caller model was told the facts it knows, by their descriptions
    requests = (await httpx.AsyncClient().get(f"{llm.removesuffix('/v1')}/_requests")).json()
    prompt = next(r for r in requests if r["user"] == f"caller-{scenario.name}")["messages"][0]
    assert "The device with the problem: printer third floor" in prompt["content"]
    # saved and scored again, the lines are the model's, not the scenario file's
    again = load_played(dump(played), {scenario.name: scenario})
    assert again.scenario.caller.lines == said and score(again) == result
