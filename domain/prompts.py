"""System prompts, static phrases, and the mapping of a call's history to chat messages."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from domain.call import Action, CallState, Message, Persona, Style
from domain.claim import ClaimField
from domain.guardrails import next_missing_field
from domain.phone import timezone_for
from domain.tools import TOOL_NAMES, ToolName, tool_schemas

# "full": the reference's prompts and tool schemas, for hosted models. "small": a short prompt
# for a local model of about a billion parameters (tools described in text, one example).
Profile = Literal["small", "full"]

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

DOCUMENTS_TPL = "# Internal documentation you can use\n{documents}"

NEXT_FIELD_TPL = "\n\n# Next question\nAsk the customer for {field}; do not ask for anything else."

# The small profile. A model of about a billion parameters never emits native tool calls and
# copies what it reads: a short prompt, no lists, only the three tools a phone claim needs, in
# the tool format Qwen models are trained on (their chat template's own wording), with one
# example whose value cannot pass for data. What changes during the call (date, claim so far,
# next field) ends the system message: the static part before it (persona and tools, about 450
# tokens) stays in llama.cpp's KV cache from turn to turn and call to call.
SMALL_SYSTEM_TPL = """\
You are {bot_name}, a phone assistant at {bot_company}, an insurance company. You help the \
caller with their claim. Answer in the caller's language ({lang}), in one or two short \
sentences, and ask one question at a time. Never make up information: only use what the \
caller said. No lists.

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

SMALL_TOOLS = frozenset({ToolName.UPDATED_CLAIM, ToolName.TALK_TO_HUMAN, ToolName.END_CALL})

# Static phrases spoken without the LLM. English is the source; other languages are given
# here so a call never waits on a translation service for them.
PHRASES: dict[str, dict[str, str]] = {
    "en": {
        "hello": "Hello, I'm {bot_name} from {bot_company}. How can I help you today?",
        "goodbye": "Thank you for calling {bot_company}. Have a nice day, goodbye!",
        "error": "Sorry, I had a technical problem. Could you repeat that, please?",
        "timeout_silence": "Are you still there?",
        "timeout_loading": "Let me check that for you, one moment.",
        "connect_agent": "I'm connecting you to an agent, please hold.",
        "end_call_to_connect_agent": "Of course, I'm transferring you to a human agent now.",
        "calltransfer_failure": "Sorry, I could not reach an agent. Let's continue together.",
        "ivr_language": "For English, press 1.",
        "content_filter": "Sorry, I can't talk about that. How else can I help with your claim?",
        "hold": "One moment, please.",
        "media_lost": "Sorry, a technical problem cuts this call short. Please call us back. "
        "Goodbye!",
    },
    "fr": {
        "hello": "Bonjour, je suis {bot_name} de {bot_company}. Comment puis-je vous aider ?",
        "goodbye": "Merci d'avoir appelé {bot_company}. Bonne journée, au revoir !",
        "error": "Désolée, j'ai eu un problème technique. Pouvez-vous répéter, s'il vous plaît ?",
        "timeout_silence": "Êtes-vous toujours là ?",
        "timeout_loading": "Je vérifie cela pour vous, un instant.",
        "connect_agent": "Je vous mets en relation avec un conseiller, ne quittez pas.",
        "end_call_to_connect_agent": "Bien sûr, je vous transfère à un conseiller.",
        "calltransfer_failure": "Désolée, aucun conseiller n'est disponible. Continuons ensemble.",
        "ivr_language": "Pour le français, tapez 2.",
        "content_filter": "Désolée, je ne peux pas parler de cela. Revenons à votre dossier.",
        "hold": "Un instant, s'il vous plaît.",
        "media_lost": "Désolée, un problème technique interrompt cet appel. Rappelez-nous. "
        "Au revoir !",
    },
}


def phrase(key: str, call: CallState) -> str:
    """A static phrase in the call's current language (English when not translated)."""
    lang = call.lang.short_code.split("-")[0]
    table = PHRASES.get(lang, PHRASES["en"])
    text = table.get(key) or PHRASES["en"][key]
    return text.format(bot_name=call.initiate.bot_name, bot_company=call.initiate.bot_company)


def format_date(now: datetime, tz_name: str) -> str:
    return now.astimezone(ZoneInfo(tz_name)).strftime("%a %d %b %Y, %H:%M (%Z)")


def system_prompts(
    call: CallState, now: datetime, *, slot_hint: bool = False
) -> list[dict[str, Any]]:
    """The two system messages of the reference, with their placeholders filled.

    With `slot_hint`, the second one ends with the single claim field to ask for next.
    """
    initiate = call.initiate
    tz_name = timezone_for(initiate.phone_number)
    default = DEFAULT_SYSTEM_TPL.format(
        bot_name=initiate.bot_name,
        bot_company=initiate.bot_company,
        bot_phone_number=initiate.bot_phone_number or "unknown",
        phone_number=initiate.phone_number,
        date=format_date(now, tz_name),
    )
    schema = call.claim_schema()
    claim = {f.name: call.claim.get(f.name) for f in schema}
    reminders = [
        r.model_dump(mode="json", exclude={"created_at", "updated_at"}) for r in call.reminders
    ]
    chat = CHAT_SYSTEM_TPL.format(
        task=initiate.task,
        default_lang=call.lang.short_code,
        bot_company=initiate.bot_company,
        actions=", ".join(a.value for a in Action),
        styles=", ".join(s.value for s in Style),
        claim=json.dumps(claim, ensure_ascii=False),
        reminders=json.dumps(reminders, ensure_ascii=False),
    )
    field = next_missing_field(call) if slot_hint else None
    if field is not None:
        chat += NEXT_FIELD_TPL.format(field=_describe(field))
    return [{"role": "system", "content": default}, {"role": "system", "content": chat}]


def _describe(field: ClaimField) -> str:
    what = (field.description or field.name.replace("_", " ")).lower()
    return f"{what} (field {field.name})"


def small_system_prompt(call: CallState, now: datetime, *, slot_hint: bool) -> dict[str, Any]:
    """The small profile's one system message; with `slot_hint`, the next field to ask for."""
    tools = tool_schemas(
        call, frozenset(TOOL_NAMES - SMALL_TOOLS), customer_response=False, compact=True
    )
    saved = "; ".join(
        f"{f.name} = {call.claim[f.name]}" for f in call.claim_schema() if call.claim.get(f.name)
    )
    field = next_missing_field(call)
    next_line = ""
    if slot_hint:
        next_line = (
            f" Next, ask the caller for {_describe(field)}."
            if field is not None
            else " Everything is saved: ask if there is anything else."
        )
    content = SMALL_SYSTEM_TPL.format(
        bot_name=call.initiate.bot_name,
        bot_company=call.initiate.bot_company,
        lang=call.lang.short_code,
        tools="\n".join(json.dumps(t, ensure_ascii=False) for t in tools),
        date=format_date(now, timezone_for(call.initiate.phone_number)),
        saved=saved or "nothing yet",
        next=next_line,
    )
    return {"role": "system", "content": content}


def _one_line(text: str) -> str:
    return " ".join(text.split())


def message_to_chat(message: Message, *, plain: bool = False) -> list[dict[str, Any]]:
    """One stored message as chat messages (an assistant message brings its tool results).

    `plain` (the small profile) leaves out the `action=`/`style=` prefixes, and writes tool
    calls and results as text in the format the small prompt teaches (no schemas are sent).
    """
    if plain:
        return _plain_chat(message)
    if message.persona is Persona.HUMAN:
        return [
            {"role": "user", "content": f"action={message.action} {_one_line(message.content)}"}
        ]
    if message.persona is Persona.TOOL:
        return []
    out: dict[str, Any] = {
        "role": "assistant",
        "content": f"action={message.action} style={message.style} {_one_line(message.content)}",
    }
    if not message.tool_calls:
        return [out]
    out["tool_calls"] = [
        {
            "id": tc.tool_id,
            "type": "function",
            "function": {"name": tc.function_name, "arguments": tc.function_arguments},
        }
        for tc in message.tool_calls
    ]
    results = [
        {"role": "tool", "tool_call_id": tc.tool_id, "content": tc.content or "done"}
        for tc in message.tool_calls
    ]
    return [out, *results]


def _plain_chat(message: Message) -> list[dict[str, Any]]:
    if message.persona is Persona.TOOL or message.action in (Action.CALL, Action.HANGUP):
        return []
    if message.persona is Persona.HUMAN:
        return [{"role": "user", "content": _one_line(message.content)}]
    calls = [
        "<tool_call>\n"
        + json.dumps({"name": tc.function_name, "arguments": _arguments(tc.function_arguments)})
        + "\n</tool_call>"
        for tc in message.tool_calls
    ]
    text = "\n".join([_one_line(message.content), *calls]).strip()
    out = [{"role": "assistant", "content": text}] if text else []
    results = [f"<tool_response>\n{tc.content}\n</tool_response>" for tc in message.tool_calls]
    if results:
        out.append({"role": "user", "content": "\n".join(results)})
    return out


def _arguments(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return {}


def history(
    messages: list[Message], *, max_messages: int, max_chars: int, plain: bool = False
) -> list[dict[str, Any]]:
    """The newest messages that fit both limits, oldest first.

    A message and its tool results are kept or dropped together so the API never sees a tool
    result without its call.
    """
    picked: list[list[dict[str, Any]]] = []
    used = 0
    for message in reversed(messages):
        chunk = message_to_chat(message, plain=plain)
        if not chunk:
            continue
        size = sum(len(json.dumps(m, ensure_ascii=False)) for m in chunk)
        if len(picked) >= max_messages or (picked and used + size > max_chars):
            break
        picked.append(chunk)
        used += size
    return [m for chunk in reversed(picked) for m in chunk]


def build_chat(
    call: CallState,
    now: datetime,
    *,
    max_messages: int = 20,
    max_chars: int = 24_000,
    documents: str | None = None,
    profile: Profile = "full",
    slot_hint: bool = False,
) -> list[dict[str, Any]]:
    """Full `messages` for a chat completion.

    `slot_hint` tells the model the single claim field to ask for next (a guardrail).
    """
    if profile == "small":
        past = history(call.messages, max_messages=max_messages, max_chars=max_chars, plain=True)
        return [small_system_prompt(call, now, slot_hint=slot_hint), *past]
    system = system_prompts(call, now, slot_hint=slot_hint)
    if documents:
        system.append({"role": "system", "content": DOCUMENTS_TPL.format(documents=documents)})
    return [*system, *history(call.messages, max_messages=max_messages, max_chars=max_chars)]


# --- after the call ---------------------------------------------------------------------

POST_CALL_CONTEXT_TPL = """\
# Company
{bot_company} (assistant {bot_name}); customer phone {phone_number}; today is {date}.

# Claim (JSON)
{claim}

# Reminders (JSON)
{reminders}

# Conversation, oldest first
{transcript}"""

SYNTHESIS_SYSTEM_TPL = (
    """\
You are a call-center supervisor. Summarise the conversation below for the customer file.
Answer with ONE JSON object only, no text around it, matching this JSON schema:
{format}

"""
    + POST_CALL_CONTEXT_TPL
)

NEXT_SYSTEM_TPL = (
    """\
You are a call-center supervisor. Decide the next action for this customer file, with a
short justification. Answer with ONE JSON object only, matching this JSON schema:
{format}

"""
    + POST_CALL_CONTEXT_TPL
)

SMS_SUMMARY_SYSTEM_TPL = (
    """\
Write the text message sent to the customer after the call, in their language ({lang}):
thank them, summarise what was recorded and the next steps (reminders), in at most 300
characters, no Markdown, signed {bot_name} from {bot_company}. Answer with the message only.

"""
    + POST_CALL_CONTEXT_TPL
)

VALIDATION_RETRY = "A validation error occurred, please retry: {error}"


def transcript(call: CallState, tz_name: str) -> str:
    """The conversation as plain lines (`[HH:MM] persona action: text`), for post-call."""
    zone = ZoneInfo(tz_name)
    lines = []
    for message in call.messages:
        when = message.created_at.astimezone(zone).strftime("%H:%M")
        text = _one_line(message.content) if message.content else ""
        lines.append(f"[{when}] {message.persona.value} {message.action.value}: {text}".rstrip())
    return "\n".join(lines)


def post_call_context(call: CallState, now: datetime) -> dict[str, str]:
    tz_name = timezone_for(call.initiate.phone_number)
    return {
        "bot_company": call.initiate.bot_company,
        "bot_name": call.initiate.bot_name,
        "phone_number": call.initiate.phone_number,
        "date": format_date(now, tz_name),
        "lang": call.lang.short_code,
        "claim": json.dumps(call.claim, ensure_ascii=False),
        "reminders": json.dumps(
            [r.model_dump(mode="json", include={"title", "description", "due_date_time", "owner"})
             for r in call.reminders],
            ensure_ascii=False,
        ),
        "transcript": transcript(call, tz_name),
    }  # fmt: skip
