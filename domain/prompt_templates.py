"""The system prompt templates, and their per-deployment or per-call overrides (checked).

A template is a `str.format` string; an override may use only the placeholders the built-in
template fills (`PROMPT_PLACEHOLDERS`), so a typo fails at start or as a 422, never mid-call.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator

from domain.templating import TemplateError, check_template

DEFAULT_SYSTEM_TPL = """\
Assistant is called {bot_name} and is working in a call center for the company {bot_company} \
as an expert with 20 years of experience. {bot_company} is a well-known and trusted company. \
Assistant is proficient in English and in the customer's language.

Today is {date}. The customer is calling from {phone_number}. The call center number is \
{bot_phone_number}."""

CHAT_SYSTEM_TPL = """\
# Objective
{task}

# Rules
- Answer in {default_lang}, unless the customer speaks another language or asks for one
- Ask at most two questions at a time, and keep answers to one or two short sentences
- Use simple words, no lists, no Markdown: everything you write is spoken on the phone
- Store every fact the customer gives as soon as you hear it, with the tools
- When the customer spells letters or digits, write them back exactly
- Never invent a value; if unsure, ask the customer to repeat
- Do not greet again if the conversation already started
- Use a filler before a tool when the customer waits, e.g. "Let me note that."
- Only the tools listed exist; call them instead of describing what you would do

# Steps, new conversation
1. Greet the customer and ask how you can help
2. Collect the claim fields, one or two at a time
3. Propose a follow-up and create a reminder for it
4. Summarise and say goodbye when everything is collected

# Steps, ongoing conversation
1. Acknowledge that you are continuing an earlier conversation, do not re-introduce yourself
2. Go on with what is missing in the claim

# Output format
style=[one of {styles}] the sentence to say
Conversation messages are prefixed with action=[one of {actions}].

# Claim, as stored so far (JSON)
{claim}

# Reminders (JSON)
{reminders}

# Company
{bot_company}"""

# The small profile. A model of about a billion parameters never emits native tool calls and
# copies what it reads: a short prompt, no lists, only the three tools a phone claim needs, in
# the tool format Qwen models are trained on (their chat template's own wording), with one
# example whose value cannot pass for data. What changes during the call (date, claim so far,
# next field) ends the system message: the static part before it (persona and tools, about 450
# tokens) stays in llama.cpp's KV cache from turn to turn and call to call.
SMALL_SYSTEM_TPL = """\
You are {bot_name}, a phone assistant at {bot_company}. Your task: {task}
Answer in the caller's language ({lang}), in one or two short sentences, and ask one question \
at a time. Never make up information: only use what the caller said. No lists.

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{tools}
</tools>

For each function call, return a json object with function name and arguments within \
<tool_call></tool_call> XML tags:
<tool_call>
{{"name": <function-name>, "arguments": <args-json-object>}}
</tool_call>
Example:
<tool_call>
{{"name": "updated_claim", "arguments": {{"updates": [{{"field": "incident_location", \
"value": "<the place the caller named>"}}]}}}}
</tool_call>

# Now
Today is {date}. Saved so far: {saved}.{next}"""


# The small profile with guardrails: the bot asks and stores in pure code, the model only
# acknowledges the caller's last words. A prompt of about 100 tokens and the last exchange:
# a loaded CPU answers in seconds, not minutes.
SMALL_ACK_TPL = """\
You are {bot_name}, a phone assistant at {bot_company}. Your task: {task}
The caller just spoke. Reply in the caller's language ({lang}) with ONE short, kind sentence \
that acknowledges what they said. Do not ask any question, do not greet, do not promise \
anything, never make up names or numbers."""

# "system": the persona (full profile, first message); "chat": the task, rules and claim (full
# profile, second message); "small": the small profile's one system message; "small_ack": the
# same with guardrails, where the model only acknowledges.
PromptName = Literal["system", "chat", "small", "small_ack"]
PROMPT_TEMPLATES: dict[str, str] = {
    "system": DEFAULT_SYSTEM_TPL,
    "chat": CHAT_SYSTEM_TPL,
    "small": SMALL_SYSTEM_TPL,
    "small_ack": SMALL_ACK_TPL,
}
# What each builder fills (`domain/prompts.py`); the built-in templates use a part of it.
_FULL = frozenset(
    {
        "bot_name",
        "bot_company",
        "bot_phone_number",
        "phone_number",
        "date",
        "task",
        "default_lang",
        "actions",
        "styles",
        "claim",
        "reminders",
    }
)
_SMALL = frozenset({"bot_name", "bot_company", "lang", "tools", "date", "saved", "next", "task"})
PROMPT_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "system": _FULL,
    "chat": _FULL,
    "small": _SMALL,
    "small_ack": _SMALL,
}
# The post-call prompts of a hosted model (built-ins: `domain/prompts.py`, used by
# `activities/post_call.py`); a small model's results are built from the call's facts instead.
PostCallPromptName = Literal["synthesis", "next", "sms"]
_POST_CALL = frozenset(
    {"bot_company", "bot_name", "phone_number", "date", "lang", "claim", "reminders", "transcript"}
)
# `format`: the JSON schema of the answer (the SMS is plain text).
PROMPT_PLACEHOLDERS["synthesis"] = PROMPT_PLACEHOLDERS["next"] = _POST_CALL | {"format"}
PROMPT_PLACEHOLDERS["sms"] = _POST_CALL
AnyPromptName = Literal[PromptName, PostCallPromptName]  # flattened: one list of names
MAX_PROMPT_CHARS = 16_000


def check_prompts(prompts: dict[AnyPromptName, str]) -> dict[AnyPromptName, str]:
    for name, text in prompts.items():
        where = f"prompts.{name}"
        if not text.strip() or len(text) > MAX_PROMPT_CHARS:
            raise TemplateError(f"{where}: 1 to {MAX_PROMPT_CHARS} characters")
        check_template(where, text, PROMPT_PLACEHOLDERS[name])
    return prompts


PromptOverrides = Annotated[dict[AnyPromptName, str], AfterValidator(check_prompts)]
