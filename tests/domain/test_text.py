"""Sentence splitting of streamed answers and tool calls written as text."""

from __future__ import annotations

import json
import random

import pytest

from domain.call import Style
from domain.text import SentenceSplitter, normalise_arguments, parse_text_tool_calls


def split(text: str, sizes: list[int] | None = None) -> tuple[list[str], Style]:
    """Feed `text` in chunks of `sizes` (cycled; one char each by default), then flush."""
    splitter = SentenceSplitter()
    out: list[str] = []
    pos, n = 0, 0
    while pos < len(text):
        size = sizes[n % len(sizes)] if sizes else 1
        out += splitter.feed(text[pos : pos + size])
        pos, n = pos + size, n + 1
    out += splitter.flush()
    return out, splitter.style


CASES = {
    "style=cheerful Hello Mr. Smith! The rate is 3.5% from 10:30. Bye.": (
        ["Hello Mr. Smith!", "The rate is 3.5% from 10:30.", "Bye."],
        Style.CHEERFUL,
    ),
    "Write to john.doe@example.com. Or see https://example.com/a?b=1 online. Ok?": (
        ["Write to john.doe@example.com.", "Or see https://example.com/a?b=1 online.", "Ok?"],
        Style.NONE,
    ),
    "Really?! Yes; e.g. a car, i.e. yours. Dr. J. Watson will call at 5 p.m. today.": (
        ["Really?!", "Yes;", "e.g. a car, i.e. yours.", "Dr. J. Watson will call at 5 p.m. today."],
        Style.NONE,
    ),
    "style=sadBonjour ! Comment allez-vous ? Très bien… Merci.": (
        ["Bonjour !", "Comment allez-vous ?", "Très bien…", "Merci."],
        Style.SAD,
    ),
    "action=talk STYLE=cheerful content=Sure, I noted it - anything else?": (
        ["Sure, I noted it -", "anything else?"],
        Style.CHEERFUL,
    ),
    "ACTION=TALK action=talk style=none It costs 1.5 euros.": (["It costs 1.5 euros."], Style.NONE),
    "It is 12.": (["It is 12."], Style.NONE),
}


@pytest.mark.parametrize("text", list(CASES))
def test_sentences_do_not_depend_on_chunking(text: str) -> None:
    expected = CASES[text]
    assert split(text) == expected
    assert split(text, [len(text)]) == expected
    rng = random.Random(text)
    for _ in range(20):
        assert split(text, [rng.randint(1, 9) for _ in range(7)]) == expected


def test_sentences_are_emitted_as_soon_as_complete() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("style=cheerful Hello") == []
    assert splitter.feed(" there. How") == ["Hello there."]
    assert splitter.style is Style.CHEERFUL
    # "3." may still become "3.5": not a sentence until the next character is seen.
    assert splitter.feed(" are you at 3.") == []
    assert splitter.feed("5? Fine") == ["How are you at 3.5?"]
    assert splitter.flush() == ["Fine"]


def test_style_prefix_needs_no_space_and_unknown_style_is_none() -> None:
    assert split("style=cheerfulHello.") == (["Hello."], Style.CHEERFUL)
    assert split("style=happy Hello.") == (["Hello."], Style.NONE)
    assert split("style=cheerful") == ([], Style.CHEERFUL)
    assert split("Hello style=sad there.") == (["Hello style=sad there."], Style.NONE)


def test_json_is_held_back_and_never_spoken() -> None:
    text = (
        'Let me note that. {"name": "updated_claim", "arguments": {"updates": '
        '[{"field": "caller_name", "value": "Ann. Smith"}]}} Anything else?'
    )
    splitter = SentenceSplitter()
    spoken = [s for i in range(len(text)) for s in splitter.feed(text[i])]
    assert spoken == ["Let me note that."]
    assert splitter.flush() == ["Anything else?"]
    assert splitter.text_tool_calls == [
        ("updated_claim", '{"updates": [{"field": "caller_name", "value": "Ann. Smith"}]}')
    ]


@pytest.mark.parametrize(
    "text",
    [
        '[{"name": "end_call", "arguments": {}}]',
        '<tool_call>\n{"name": "end_call", "arguments": {}}\n</tool_call>',
        '```json\n{"name": "end_call", "arguments": {}}\n```',
        '{"name": "get_weather", "arguments": {"city": "Paris"}}',
    ],
)
def test_held_back_blocks_are_dropped(text: str) -> None:
    sentences, _ = split(f"style=none {text}")
    assert sentences == []


def test_text_after_an_unrelated_bracket_is_still_spoken() -> None:
    assert split("Press [1] now. Thanks.")[0] == ["Press [1] now.", "Thanks."]
    assert split("Say [pause] yes. Ok.")[0] == ["Say [pause] yes.", "Ok."]


# --- parse_text_tool_calls ----------------------------------------------------------------

CLAIM_ARGS = {"updates": [{"field": "caller_email", "value": "ann@example.com"}]}


def test_qwen_tool_call_tags() -> None:
    text = (
        "I'll save your email.\n<tool_call>\n"
        + json.dumps({"name": "updated_claim", "arguments": CLAIM_ARGS})
        + "\n</tool_call>"
    )
    clean, calls = parse_text_tool_calls(text)
    assert clean == "I'll save your email."
    assert calls == [("updated_claim", json.dumps(CLAIM_ARGS))]


def test_llama_parameters_and_python_tag() -> None:
    text = '<|python_tag|>{"name": "end_call", "parameters": {"customer_response": "Bye!"}}'
    assert parse_text_tool_calls(text) == ("", [("end_call", '{"customer_response": "Bye!"}')])
    bare = '{"type": "function", "name": "talk_to_human", "parameters": {}}'
    assert parse_text_tool_calls(bare) == ("", [("talk_to_human", "{}")])


def test_list_of_calls_with_tool_and_args_keys() -> None:
    text = (
        'Sure. [{"tool": "speech_speed", "args": {"speed": 0.9}}, '
        '{"tool": "speech_lang", "args": {"lang": "fr-FR"}}] Voilà.'
    )
    clean, calls = parse_text_tool_calls(text)
    assert clean == "Sure. Voilà."
    assert calls == [("speech_speed", '{"speed": 0.9}'), ("speech_lang", '{"lang": "fr-FR"}')]


def test_json_fence_and_string_arguments() -> None:
    text = (
        'Here you go:\n```json\n{"name": "send_sms", "arguments": "{\\"message\\": \\"Hi\\"}"}'
        "\n```\nDone."
    )
    assert parse_text_tool_calls(text) == (
        "Here you go: Done.",
        [("send_sms", '{"message": "Hi"}')],
    )


def test_phi_functools_and_mistral_tags() -> None:
    phi = 'functools[{"name": "end_call", "arguments": {}}]'
    assert parse_text_tool_calls(phi) == ("", [("end_call", "{}")])
    mistral = '[TOOL_CALLS] [{"name": "new_claim", "arguments": {}}] Thanks.'
    assert parse_text_tool_calls(mistral) == ("Thanks.", [("new_claim", "{}")])


def test_broken_json_is_repaired() -> None:
    # Cut by max_tokens, single quotes, trailing comma: what small local models produce.
    cut = '{"name": "search_document", "arguments": {"queries": ["car theft", "deductible"'
    assert parse_text_tool_calls(cut) == (
        "",
        [("search_document", '{"queries": ["car theft", "deductible"]}')],
    )
    quotes = "{'name': 'speech_speed', 'arguments': {'speed': 1.1,},}"
    assert parse_text_tool_calls(quotes) == ("", [("speech_speed", '{"speed": 1.1}')])


def test_parallel_and_openai_shapes() -> None:
    parallel = {
        "name": "multi_tool_use.parallel",
        "arguments": {
            "tool_uses": [
                {"recipient_name": "functions.end_call", "parameters": {}},
                {"recipient_name": "functions.unknown", "parameters": {}},
            ]
        },
    }
    assert parse_text_tool_calls(json.dumps(parallel)) == ("", [("end_call", "{}")])
    openai_shape = {"type": "function", "function": {"name": "new_claim", "arguments": "{}"}}
    assert parse_text_tool_calls(json.dumps(openai_shape)) == ("", [("new_claim", "{}")])


def test_unknown_names_and_plain_text_are_left_alone() -> None:
    text = 'Call {"name": "get_weather", "arguments": {}} me at 10:30.'
    assert parse_text_tool_calls(text) == (text, [])
    assert parse_text_tool_calls("No tools here.") == ("No tools here.", [])
    llama_function = "<function=end_call>{}</function>"
    assert parse_text_tool_calls(llama_function) == ("", [("end_call", "{}")])


# --- normalise_arguments ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"speed": 1.1}', '{"speed": 1.1}'),
        ('{"speed": 1.1', '{"speed": 1.1}'),
        ("", "{}"),
        ("   ", "{}"),
        ("[1, 2]", "{}"),
        ("null", "{}"),
        ("not json at all", "{}"),
        ('"{\\"lang\\": \\"fr-FR\\"}"', '{"lang": "fr-FR"}'),
        ('{"message": "Café"}', '{"message": "Café"}'),
    ],
)
def test_normalise_arguments(raw: str, expected: str) -> None:
    assert normalise_arguments(raw) == expected
    assert normalise_arguments(normalise_arguments(raw)) == expected
