"""The turn policies (`domain/turn/`): what each decides around the model, in pure code."""

from __future__ import annotations

import pytest

from domain.contracts import LlmToolCallRequest, LlmTurnInput
from domain.guardrails import words
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
    # The model may say one sentence: an acknowledgement, then the bot asks the next field.
    assert plan.model_sentences == 1 and not plan.answer_without_model
    question = policy.closing_question(
        plan, "I am sorry to hear that.", [], content_filtered=False, tools_enabled=True
    )
    assert question == "May I have your full name, please?"
    # Nothing usable from the model: the bot acknowledges with a template.
    assert (
        policy.closing_question(plan, "", [], content_filtered=False, tools_enabled=True)
        == "I'm sorry to hear that. May I have your full name, please?"
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


def test_a_question_asked_again_is_worded_differently() -> None:
    policy = SmallModelPolicy(guardrails=True)
    asked = call(
        ("bot", "Hello, how can I help?"),
        ("caller", "My car was stolen last night."),
        ("bot", "I'm sorry to hear that. May I have your full name, please?"),
        ("caller", "Hmm, hold on."),
        claim={"incident_description": "My car was stolen last night"},
    )
    plan = policy.plan(LlmTurnInput(call=asked, turn_id=2, iteration=0))
    said = policy.closing_question(plan, "", [], content_filtered=False, tools_enabled=True)
    assert said == "I see. Sorry, may I have your full name, please?"


def test_the_models_sentence_is_kept_only_when_it_is_a_plain_statement() -> None:
    policy = SmallModelPolicy(guardrails=True)
    for unusable in (
        "What is your name?",  # a question: the bot asks its own
        "Could you please provide your policy number.",  # a request without its '?'
        "Thank you, John.",  # a name the caller never said
        "Your claim 12345 has been filed.",  # a number never said, a promise
        '{"name": "updated_claim"}',  # tool syntax
        "Merci beaucoup pour votre appel.",  # not the call's language
        "The customer has provided additional information.",  # about the caller, not to them
    ):
        assert policy.unusable(unusable, STOLEN, []), unusable
    assert not policy.unusable("I'm sorry your car was stolen.", STOLEN, [])
    # One sentence of the model per turn.
    assert policy.unusable("That must be stressful.", STOLEN, ["I'm sorry your car was stolen."])


def test_a_caller_who_called_back_may_be_welcomed_back_by_the_model() -> None:
    from domain.call import Action, Message, Persona

    policy = SmallModelPolicy(guardrails=True)
    resumed = STOLEN.model_copy(deep=True)
    resumed.messages.append(
        Message(created_at=resumed.created_at, persona=Persona.HUMAN, action=Action.CALL)
    )
    welcome = "Welcome back, we were talking about your stolen car."
    assert not policy.unusable(welcome, resumed, [])
    # Anywhere else a greeting from the model is not spoken (the bot greets on its own).
    assert policy.unusable(welcome, STOLEN, [])
    assert policy.unusable("Hello, we were talking about your stolen car.", STOLEN, [])
