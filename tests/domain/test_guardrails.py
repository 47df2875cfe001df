"""Guardrails around a weak LLM: grounding, intents, slot filling and the small prompt."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.call import CallInitiate, CallState, Message, Persona, ToolCall
from domain.claim import FieldUpdate
from domain.guardrails import (
    ANYTHING_ELSE,
    Evidence,
    apply_grounded_updates,
    asks_for,
    echoes_caller,
    extract_answer,
    find_dates,
    find_emails,
    find_times,
    hang_up_refusal,
    next_missing_field,
    question_for,
    repeats_bot,
    requested_tool,
    transfer_refusal,
    with_updates,
)
from domain.prompts import build_chat
from domain.tools import ToolName

# Wed 25 Nov 2026, 11:00 in Paris (the caller's number is French).
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)


Turn = tuple[str, str] | tuple[str, str, list[ToolCall]]


def call(*turns: Turn, claim: dict[str, str | None] | None = None) -> CallState:
    """A call whose messages are ("bot"|"caller", text[, tool calls]), oldest first."""
    messages = [
        Message(
            created_at=NOW,
            persona=Persona.HUMAN if turn[0] == "caller" else Persona.ASSISTANT,
            content=turn[1],
            tool_calls=turn[2] if len(turn) == 3 else [],
        )
        for turn in turns
    ]
    return CallState(
        call_id="c1",
        created_at=NOW,
        initiate=CallInitiate(
            phone_number="+33612345678",
            bot_company="Contoso",
            bot_name="Amélie",
            agent_phone_number="+33612345679",
        ),
        messages=messages,
        claim=dict(claim or {}),
    )


ACCIDENT = call(
    ("bot", "Hello, how can I help?"),
    ("caller", "A truck hit my car from behind yesterday at 8:30 on the A6 near Lyon, exit 33."),
    ("caller", "I'm Jean Dupont, policy POL-889-221, call me on 06 12 34 56 78."),
    ("caller", "My email is jean dot dupont at example dot com. Nobody was hurt."),
)


# --- grounding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("policyholder_name", "Jean Dupont"),
        ("policy_number", "POL-889-221"),
        ("policy_number", "pol889221"),  # the same code, written differently
        ("policyholder_phone", "+33612345678"),  # said as a national number
        ("policyholder_email", "jean.dupont@example.com"),  # spelled out
        ("incident_datetime", "2026-11-24 08:30"),  # "yesterday at 8:30"
        ("incident_location", "A6 motorway near Lyon, exit 33"),
        ("incident_description", "Rear-ended by a truck"),
        ("injuries", "None"),  # "nobody was hurt"
    ],
)
def test_values_the_caller_said_are_stored(field: str, value: str) -> None:
    state = ACCIDENT.model_copy(deep=True)
    [result] = apply_grounded_updates(state, [FieldUpdate(field=field, value=value)])
    assert result.ok, result.reason
    assert state.claim[field]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("policyholder_name", "John Doe"),  # the 0.5B model's favourite invention
        ("policy_number", "1234567890"),
        ("policyholder_phone", "+33698765432"),
        ("policyholder_email", "john.doe@example.com"),
        ("incident_datetime", "2026-11-23 08:30"),  # a day the caller did not say
        ("incident_datetime", "2026-11-24 14:00"),  # a time the caller did not say
        ("incident_description", "The vehicle caught fire in a parking garage"),
        ("incident_location", "Rue de Rivoli, Paris"),
        ("witnesses", "Marie Curie"),
    ],
)
def test_invented_values_are_refused_and_nothing_is_stored(field: str, value: str) -> None:
    state = ACCIDENT.model_copy(deep=True)
    [result] = apply_grounded_updates(state, [FieldUpdate(field=field, value=value)])
    assert not result.ok
    assert "the caller did not say" in result.line() and "Ask the customer again" in result.line()
    assert field not in state.claim


def test_a_none_value_needs_a_negation_from_the_caller() -> None:
    state = call(("caller", "My car was hit on the A6."))
    [result] = apply_grounded_updates(state, [FieldUpdate(field="injuries", value="None")])
    assert not result.ok


def test_an_invalid_value_gets_the_validation_error_and_a_good_one_is_kept() -> None:
    state = ACCIDENT.model_copy(deep=True)
    results = apply_grounded_updates(
        state,
        [
            FieldUpdate(field="policyholder_email", value="jean.dupont@"),
            FieldUpdate(field="policyholder_name", value="Jean Dupont"),
            FieldUpdate(field="colour", value="red"),
        ],
    )
    assert [r.ok for r in results] == [False, True, False]
    assert "not a valid email" in (results[0].reason or "")
    assert "unknown field" in (results[2].reason or "")
    assert state.claim == {"policyholder_name": "Jean Dupont"}


def test_evidence_reads_spoken_forms() -> None:
    assert find_emails("it's marie dot curie at gmail dot com") == ["marie.curie@gmail.com"]
    # Whisper glues the spoken "at" into the address: one way to split it, one address.
    assert find_emails("my email is jane.milleratexample.com") == ["jane.miller@example.com"]
    assert find_emails("it is kate.smith.atexample.com") == []  # "." before "at": not split
    assert find_emails("go to example.com") == []  # a site, no "at"
    assert find_emails("mattattest.co.uk") == []  # two ways to split: not guessed
    said_at = datetime(2026, 11, 25, 11, 0)  # a Wednesday
    assert find_dates("last monday", said_at) == {datetime(2026, 11, 23).date()}
    assert find_dates("on november 3rd", said_at) == {datetime(2026, 11, 3).date()}
    assert datetime(2026, 11, 24).date() in find_dates("yesterday evening", said_at)
    assert find_times("at 5 pm") == {(17, 0)}
    assert find_times("around 8:30") == {(8, 30), (20, 30)}  # no am/pm: both readings
    assert find_times("a 17h") == {(17, 0)}
    evidence = Evidence(call(("caller", "call me at five")))
    assert (5, 0) in evidence.times  # number words count as digits


# --- intents -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "tool"),
    [
        ("I want to talk to a real person.", ToolName.TALK_TO_HUMAN),
        ("This is ridiculous, get me an agent right now!", ToolName.TALK_TO_HUMAN),
        ("Please connect me with an advisor.", ToolName.TALK_TO_HUMAN),
        ("No, that's all. Goodbye!", ToolName.END_CALL),
        ("Thanks for your help, bye.", ToolName.END_CALL),
        ("I want to report an accident.", None),
        ("Okay, thank you.", None),
        ("The other person was driving too fast.", None),
    ],
)
def test_clear_requests_are_recognised(said: str, tool: ToolName | None) -> None:
    assert requested_tool(call(("bot", "How can I help?"), ("caller", said))) == tool


def test_transfers_and_hang_ups_need_the_caller_to_ask() -> None:
    unasked = call(("caller", "My policy number is POL-889-221."))
    assert "did not ask for a human" in (transfer_refusal(unasked) or "")
    assert "did not say goodbye" in (hang_up_refusal(unasked) or "")
    assert transfer_refusal(call(("caller", "Can I speak to someone?"))) is None
    assert hang_up_refusal(call(("caller", "That's all, bye."))) is None


# --- slot filling ------------------------------------------------------------------------


def test_the_bot_asks_one_field_at_a_time_in_a_fixed_order() -> None:
    field = next_missing_field(call())
    assert field is not None and field.name == "incident_description"
    filled: dict[str, str | None] = {"incident_description": "x", "policyholder_name": "J D"}
    field = next_missing_field(call(claim=filled))
    assert field is not None and field.name == "policy_number"
    everything: dict[str, str | None] = {f.name: "x" for f in call().claim_schema()}
    assert next_missing_field(call(claim=everything)) is None


@pytest.mark.parametrize(
    ("question", "answer", "field", "value"),
    [
        ("What's your email?", "It's jean dot dupont at example dot com", "policyholder_email",
         "jean.dupont@example.com"),
        ("Can I have your phone number?", "Sure, 06 12 34 56 78", "policyholder_phone",
         "+33612345678"),
        ("When did it happen?", "Yesterday around 5 in the afternoon", "incident_datetime",
         "2026-11-24 17:00"),
        ("When did it happen?", "On November 3rd at 10:15 am", "incident_datetime",
         "2026-11-03 10:15"),
        ("What is your policy number?", "It's POL-889-221.", "policy_number", "POL-889-221"),
        ("And your full name?", "Jean Dupont.", "policyholder_name", "Jean Dupont"),
        ("What is your name?", "My name is Marie Curie and I live in Lyon", "policyholder_name",
         "Marie Curie"),
    ],
)  # fmt: skip
def test_an_obvious_answer_to_the_question_is_taken(
    question: str, answer: str, field: str, value: str
) -> None:
    state = call(("bot", question), ("caller", answer))
    assert extract_answer(state) == [FieldUpdate(field=field, value=value)]


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("What's your email?", "I'll send it to you later."),  # no email in it
        ("What's your email?", "a@example.com or b@example.com"),  # which one?
        ("Where did it happen?", "On the A6."),  # free text: only for a small model
        ("When did it happen?", "I'm not sure, sometime last week."),
        ("How can I help you?", "My email is jean@example.com."),  # nothing was asked
        ("What is your policy number?", "I don't have it with me."),
    ],
)
def test_no_answer_is_made_up(question: str, answer: str) -> None:
    assert extract_answer(call(("bot", question), ("caller", answer))) == []


def test_free_text_answers_are_taken_for_a_small_model_only() -> None:
    state = call(("bot", "Where did it happen?"), ("caller", "Well, on the A6 near Lyon."))
    expected = [FieldUpdate(field="incident_location", value="on the A6, near Lyon")]
    assert extract_answer(state, free_text=True) == expected
    station = call(("bot", "Where did it happen?"), ("caller", "and Lyon near the train station."))
    expected = [FieldUpdate(field="incident_location", value="Lyon, near the train station")]
    assert extract_answer(station, free_text=True) == expected
    # Only a place gets the comma; any answer loses the lead-in and the full stop.
    told = call(
        ("bot", "Could you tell me what happened?"),
        ("caller", "So the pipe burst near the boiler."),
    )
    expected = [FieldUpdate(field="incident_description", value="the pipe burst near the boiler")]
    assert extract_answer(told, free_text=True) == expected
    questioned = call(("bot", "Where did it happen?"), ("caller", "Why do you ask?"))
    assert extract_answer(questioned, free_text=True) == []
    statement = call(("bot", "I noted your email address."), ("caller", "Great, thanks."))
    assert extract_answer(statement, free_text=True) == []


def test_nothing_is_extracted_once_the_model_has_answered() -> None:
    state = call(
        ("bot", "What's your email?"), ("caller", "jean@example.com"), ("bot", "Thank you.")
    )
    assert extract_answer(state) == []
    assert requested_tool(call(("caller", "bye"), ("bot", "Goodbye!"))) is None


def test_questions_are_matched_to_fields() -> None:
    fields = {f.name: f for f in call().claim_schema()}
    assert asks_for(fields["policyholder_phone"], "What number can we reach you at?")
    assert asks_for(fields["incident_location"], "Where did it happen?")
    assert not asks_for(fields["incident_location"], "What is your email address?")
    assert asks_for(fields["injuries"], "Was anyone injured?")
    assert not asks_for(fields["policyholder_email"], "When did it happen?")


def test_the_model_is_shown_the_answers_as_stored_without_touching_the_call() -> None:
    state = call(("bot", "What's your email?"), ("caller", "jean@example.com"))
    shown = with_updates(state, extract_answer(state))
    assert shown.claim == {"policyholder_email": "jean@example.com"}
    assert state.claim == {}


# --- prompt shaping ------------------------------------------------------------------------


def test_the_small_prompt_is_short_with_the_task_three_tools_one_example_and_its_role() -> None:
    state = call(
        ("bot", "Hello, how can I help?"),
        ("caller", "My car was hit."),
        ("bot", "", [ToolCall(tool_id="t1", function_name="updated_claim", content="Updated.")]),
        claim={"incident_description": "hit"},
    )
    messages = build_chat(state, NOW, profile="small", slot_hint=True)
    system = messages[0]["content"]
    assert [m["role"] for m in messages] == ["system", "assistant", "user", "assistant", "user"]
    assert len(system) < 3_000
    assert system.count('"name": "updated_claim"') == 2  # the schema and one example
    assert '"talk_to_human"' in system and '"end_call"' in system
    assert "send_sms" not in system and "customer_response" not in system
    assert "Saved so far: incident_description = hit." in system
    # The call's task reaches the model; with guardrails the bot asks, the model acknowledges.
    assert f"Your task: {state.initiate.task}" in system
    assert system.endswith("Do not ask any question: the next question is asked for you.")
    assert "action=" not in str(messages[1:])  # no prefixes a small model would copy
    assert messages[4]["content"] == "<tool_response>\nUpdated.\n</tool_response>"
    without_hint = build_chat(state, NOW, profile="small")[0]["content"]
    assert "acknowledges" not in without_hint


def test_the_full_prompt_gets_the_next_field_as_a_last_rule() -> None:
    state = call(("bot", "Hello"), ("caller", "Hi"))
    chat = build_chat(state, NOW, slot_hint=True)[1]["content"]
    assert chat.endswith(
        "# Next question\nAsk the customer for what happened (field incident_description);"
        " do not ask for anything else."
    )
    assert "# Next question" not in build_chat(state, NOW)[1]["content"]


# --- the bot's own questions (small profile) ----------------------------------------------


def test_every_question_of_the_bot_is_recognised_as_asking_for_its_field() -> None:
    fields = call().claim_schema()
    for field in fields:
        assert asks_for(field, question_for(field)), (field.name, question_for(field))
    # and the caller's answer to it is stored on the next turn
    asked = call(
        ("bot", question_for(next(f for f in fields if f.name == "policy_number"))),
        ("caller", "It is B01371946."),
        claim={"incident_description": "x", "policyholder_name": "Jane Miller"},
    )
    assert [u.field for u in extract_answer(asked)] == ["policy_number"]


def test_a_custom_field_gets_a_question_naming_it() -> None:
    from domain.claim import ClaimField, ClaimFieldType

    field = ClaimField(name="vehicle_plate", type=ClaimFieldType.TEXT, description="Licence plate")
    question = question_for(field)
    assert question == "Could you tell me the vehicle plate?" and asks_for(field, question)
    assert ANYTHING_ELSE.endswith("?")
    # Named once, by its description where that says what the name says.
    described = field.model_copy(update={"description": "The serial number of the device."})
    described = described.model_copy(update={"name": "device_serial"})
    question = question_for(described)
    assert question == "Could you tell me the serial number of the device?"
    assert asks_for(described, question)
    bare = ClaimField(name="hardware_info", type=ClaimFieldType.TEXT)
    assert question_for(bare) == "Could you tell me the hardware info?"


def test_a_reply_repeating_the_caller_is_recognised() -> None:
    state = call(("caller", "A truck hit the back of my car at a red light."))
    assert echoes_caller("A truck hit the back of my car at a red light.", state)
    assert not echoes_caller("I am sorry to hear about the truck.", state)
    assert not echoes_caller("Ok.", state)


def test_a_sentence_the_bot_already_said_is_recognised() -> None:
    state = call(("bot", "I'm sorry, but I can't assist with that. Where did it happen?"))
    assert repeats_bot("I'm sorry, but I can't assist with that.", state)
    assert not repeats_bot("When did it happen?", state)


def test_a_clock_time_written_as_digits_by_speech_to_text() -> None:
    assert (8, 30) in find_times("it happened this morning at about 830")
    assert (12, 45) in find_times("at 1245")
    assert find_times("my policy is 1234567") == set()


def test_facts_given_before_they_are_asked_are_taken_when_the_turn_names_them() -> None:
    state = call(
        ("bot", "Hello, I'm Amélie from Contoso."),
        (
            "caller",
            "My name is Jean Dupont, my policy is B01371946, call me on 06 12 34 56 78. My"
            " email is jean dot dupont at example dot com. A tree fell on my car.",
        ),
    )
    found = {u.field: u.value for u in extract_answer(state, free_text=True, unprompted=True)}
    assert found == {
        "policyholder_name": "Jean Dupont",
        "policy_number": "B01371946",
        "policyholder_phone": "+33612345678",
        "policyholder_email": "jean.dupont@example.com",
    }
    assert extract_answer(state, free_text=True) == []  # only when the policy asks for them
    # Answering the greeting with them: the facts, not the whole turn as what happened.
    greeted = call(("bot", "How can I help you today?"), ("caller", state.messages[-1].content))
    taken = extract_answer(greeted, free_text=True, unprompted=True)
    assert {u.field: u.value for u in taken} == found
    told = call(("bot", "How can I help you today?"), ("caller", "A tree fell on my car."))
    assert extract_answer(told, free_text=True, unprompted=True) == [
        FieldUpdate(field="incident_description", value="A tree fell on my car")
    ]
    hello = call(("bot", "How can I help you today?"), ("caller", "Hi, a tree fell on my car."))
    assert [u.value for u in extract_answer(hello, free_text=True)] == ["a tree fell on my car"]
    # Contact details given to a free-text question are not its answer.
    where = call(("bot", "Where did it happen?"), ("caller", "You can reach me on 06 12 34 56 78."))
    assert extract_answer(where, free_text=True) == []


def test_an_unprompted_value_needs_its_field_named_and_no_doubt() -> None:
    # A code without the field's words, a bare name, a number not given as a phone: not taken.
    state = call(
        ("bot", "Hello, how can I help?"),
        ("caller", "Jean Dupont here, the code on the box is AB1234, it was 0612345678."),
    )
    assert extract_answer(state, unprompted=True) == []
    stored = call(
        ("bot", "Hello?"),
        ("caller", "My name is Jean Dupont."),
        claim={"policyholder_name": "Ann Smith"},
    )
    assert extract_answer(stored, unprompted=True) == []  # never overwrites a stored value
