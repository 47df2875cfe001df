"""The turn policies (`domain/turn/`): what each decides around the model, in pure code."""

from __future__ import annotations

import pytest

from domain.contracts import LlmToolCallRequest, LlmTurnInput
from domain.guardrails import question_for, words
from domain.prompts import SMALL_TOOLS
from domain.tools import TOOL_NAMES, ToolName
from domain.turn import HostedPolicy, SmallModelPolicy, choose, policy_for
from tests.domain.test_guardrails import call

GOODBYE = call(("bot", "Anything else?"), ("caller", "No, that's all, goodbye."))
STOLEN = call(("bot", "Hello, how can I help?"), ("caller", "My car was stolen last night."))
MODEL_CALL = LlmToolCallRequest(id="c1", name="updated_claim", arguments="{}")


def test_the_profile_setting_picks_the_policy() -> None:
    assert choose("small") == "small" and choose("full") == "hosted"
    assert isinstance(policy_for("small", guardrails=True), SmallModelPolicy)
    assert isinstance(policy_for("hosted", guardrails=False), HostedPolicy)


def test_a_small_model_is_not_asked_when_the_caller_clearly_says_goodbye() -> None:
    plan = SmallModelPolicy(guardrails=True).plan(
        LlmTurnInput(call=GOODBYE, turn_id=3, iteration=0)
    )
    assert plan.answer_without_model
    assert [c.name for c in plan.intent] == [ToolName.END_CALL]
    assert plan.offered == SMALL_TOOLS and not plan.schemas and plan.profile == "small"


def test_a_hosted_model_is_asked_and_the_intent_added_if_it_forgets() -> None:
    policy = HostedPolicy(guardrails=True)
    plan = policy.plan(LlmTurnInput(call=GOODBYE, turn_id=3, iteration=0))
    assert not plan.answer_without_model and plan.schemas and plan.offered == TOOL_NAMES
    assert [c.name for c in policy.keep_calls(plan, [MODEL_CALL], False)] == [
        "updated_claim",
        ToolName.END_CALL,
    ]
    assert policy.keep_calls(plan, [MODEL_CALL], True) == [MODEL_CALL]  # filtered: no intent


def test_without_guardrails_no_intent_is_read() -> None:
    plan = SmallModelPolicy(guardrails=False).plan(
        LlmTurnInput(call=GOODBYE, turn_id=3, iteration=0)
    )
    assert plan.intent == [] and not plan.answer_without_model and not plan.slot_hint


@pytest.mark.parametrize("tools_enabled", [True, False])
def test_hosted_schemas_only_when_tools_are_enabled(tools_enabled: bool) -> None:
    input = LlmTurnInput(call=STOLEN, turn_id=1, iteration=0, tools_enabled=tools_enabled)
    assert HostedPolicy(guardrails=True).plan(input).schemas is tools_enabled


def test_the_small_policy_owns_the_claim_and_asks_the_next_question() -> None:
    policy = SmallModelPolicy(guardrails=True)
    plan = policy.plan(LlmTurnInput(call=STOLEN, turn_id=1, iteration=0))
    assert policy.keep_calls(plan, [MODEL_CALL], False) == []
    # The answer to the greeting is what happened: stored, and the model shown it stored.
    assert [(u.field, u.value) for u in plan.prefill] == [
        ("incident_description", "My car was stolen last night")
    ]
    assert plan.call.claim["incident_description"] == "My car was stolen last night"
    question = policy.closing_question(
        plan, "I am sorry to hear that.", [], content_filtered=False, tools_enabled=True
    )
    missing = next(f for f in STOLEN.claim_schema() if f.name == "policyholder_name")
    assert question == question_for(missing)
    # A reply that already asks for it gets nothing added.
    assert (
        policy.closing_question(
            plan, "May I have your name?", [], content_filtered=False, tools_enabled=True
        )
        is None
    )
    assert policy.unusable("My car was stolen last night.", STOLEN)


def test_the_hosted_policy_keeps_the_models_calls_and_sentences() -> None:
    policy = HostedPolicy(guardrails=True)
    plan = policy.plan(LlmTurnInput(call=STOLEN, turn_id=1, iteration=0))
    assert policy.keep_calls(plan, [MODEL_CALL], False) == [MODEL_CALL]
    assert (
        policy.closing_question(plan, "I see.", [], content_filtered=False, tools_enabled=True)
        is None
    )
    assert not policy.unusable("My car was stolen last night.", STOLEN)


def test_every_language_has_every_word_list() -> None:
    """A language added to one table of `words` and not the others would be half read."""
    tables = [words.NUMBERS, words.MONTHS, words.WEEKDAYS, words.BACKCHANNELS, words.STOPWORDS]
    langs = set(words.NUMBERS)
    for table in tables:
        assert set(table) == langs
    assert all(len(words.NUMBERS[lang]) == 13 for lang in langs)
    assert all(len(words.MONTHS[lang]) == 12 for lang in langs)
    assert all(len(words.WEEKDAYS[lang]) == 7 for lang in langs)


def test_the_small_policy_never_speaks_a_stock_refusal() -> None:
    refusal = "I'm sorry, but I can't assist with that."
    assert SmallModelPolicy(guardrails=True).unusable(refusal, STOLEN)
    assert not HostedPolicy(guardrails=True).unusable(refusal, STOLEN)
    assert not SmallModelPolicy(guardrails=True).unusable("I'm sorry to hear that.", STOLEN)


def test_the_bot_question_is_not_added_twice() -> None:
    policy = SmallModelPolicy(guardrails=True)
    plan = policy.plan(LlmTurnInput(call=STOLEN, turn_id=1, iteration=0))
    said = "May I have your full name, please?"
    assert said == question_for(next(f for f in STOLEN.claim_schema() if "name" in f.name))
    assert (
        policy.closing_question(plan, said, [], content_filtered=False, tools_enabled=True) is None
    )
