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
from domain.phrases import SHIPPED, menu_entries, render
from domain.prompt_templates import PROMPT_TEMPLATES, PromptName
from domain.tools import TOOL_NAMES, ToolName, tool_schemas

# "full": the reference's prompts and tool schemas, for hosted models. "small": a short prompt
# for a local model of about a billion parameters (tools described in text, one example).
Profile = Literal["small", "full"]

DOCUMENTS_TPL = "# Internal documentation you can use\n{documents}"

NEXT_FIELD_TPL = "\n\n# Next question\nAsk the customer for {field}; do not ask for anything else."

SMALL_TOOLS = frozenset({ToolName.UPDATED_CLAIM, ToolName.TALK_TO_HUMAN, ToolName.END_CALL})

# The shipped phrase tables, by primary language (the gateway's own phrases read them too).
PHRASES = SHIPPED


# The turn that greets a caller who called back (the reference: an LLM turn with the "ongoing
# conversation" rules, `end_call` not offered): said to the model whatever its profile.
CALL_BACK_HINT = (
    "The caller has just called back to go on with the conversation above. Welcome them back "
    "in one short sentence that says where you were; do not greet them as a new caller."
)


def called_back(call: CallState) -> bool:
    """The caller's new connection is the last message, after an earlier conversation."""
    messages = call.messages
    if not messages or messages[-1].persona is not Persona.HUMAN:
        return False
    return messages[-1].action is Action.CALL and any(
        m.persona is Persona.HUMAN and m.action in (Action.TALK, Action.SMS) and m.content
        for m in messages[:-1]
    )


def phrase(key: str, call: CallState) -> str:
    """A static phrase in the call's current language: the call's override, the shipped table,
    or English."""
    initiate = call.initiate
    return render(
        key,
        call.lang.short_code,
        initiate.phrases,
        bot_name=initiate.bot_name,
        bot_company=initiate.bot_company,
    )


def language_menu(call: CallState, short_codes: list[str]) -> str:
    """The language menu, each entry in its own language with the digit that picks it."""
    return " ".join(language_menu_entries(call, short_codes))


def language_menu_entries(call: CallState, short_codes: list[str]) -> list[str]:
    initiate = call.initiate
    return menu_entries(
        short_codes,
        initiate.phrases,
        bot_name=initiate.bot_name,
        bot_company=initiate.bot_company,
    )


def prompt_template(call: CallState, name: PromptName) -> str:
    """A system prompt template: the call's override, else the built-in one."""
    return call.initiate.prompts.get(name) or PROMPT_TEMPLATES[name]


def format_date(now: datetime, tz_name: str) -> str:
    return now.astimezone(ZoneInfo(tz_name)).strftime("%a %d %b %Y, %H:%M (%Z)")


def system_prompts(
    call: CallState, now: datetime, *, slot_hint: bool = False
) -> list[dict[str, Any]]:
    """The two system messages of the reference, with their placeholders filled.

    With `slot_hint`, the second one ends with the single claim field to ask for next.
    """
    initiate = call.initiate
    claim = {f.name: call.claim.get(f.name) for f in call.claim_schema()}
    reminders = [
        r.model_dump(mode="json", exclude={"created_at", "updated_at"}) for r in call.reminders
    ]
    # Both templates get every value, so an override of either may use any of them.
    values = {
        "bot_name": initiate.bot_name,
        "bot_company": initiate.bot_company,
        "bot_phone_number": initiate.bot_phone_number or "unknown",
        "phone_number": initiate.phone_number,
        "date": format_date(now, timezone_for(initiate.phone_number)),
        "task": initiate.task,
        "default_lang": call.lang.short_code,
        "actions": ", ".join(a.value for a in Action),
        "styles": ", ".join(s.value for s in Style),
        "claim": json.dumps(claim, ensure_ascii=False),
        "reminders": json.dumps(reminders, ensure_ascii=False),
    }
    default = prompt_template(call, "system").format(**values)
    chat = prompt_template(call, "chat").format(**values)
    field = next_missing_field(call) if slot_hint else None
    if field is not None:
        chat += NEXT_FIELD_TPL.format(field=_describe(field))
    if called_back(call):
        chat += f"\n\n# Now\n{CALL_BACK_HINT}"
    return [{"role": "system", "content": default}, {"role": "system", "content": chat}]


def _describe(field: ClaimField) -> str:
    what = (field.description or field.name.replace("_", " ")).lower()
    return f"{what} (field {field.name})"


def small_system_prompt(call: CallState, now: datetime, *, slot_hint: bool) -> dict[str, Any]:
    """The small profile's one system message; with `slot_hint`, the next field to ask for."""
    hidden = TOOL_NAMES - SMALL_TOOLS
    if called_back(call):
        hidden |= {ToolName.END_CALL}  # not offered in the welcome-back turn (the reference)
    tools = tool_schemas(call, frozenset(hidden), customer_response=False, compact=True)
    saved = "; ".join(
        f"{f.name} = {call.claim[f.name]}" for f in call.claim_schema() if call.claim.get(f.name)
    )
    next_line = ""
    if slot_hint:
        # With guardrails the bot asks its own next question: the model only acknowledges.
        next_line = (
            " Reply with ONE short sentence that acknowledges what the caller just said. Do not"
            " ask any question: the next question is asked for you."
        )
    if called_back(call):
        next_line = f" {CALL_BACK_HINT}{next_line}"
    content = prompt_template(call, "small").format(
        bot_name=call.initiate.bot_name,
        bot_company=call.initiate.bot_company,
        lang=call.lang.short_code,
        tools="\n".join(json.dumps(t, ensure_ascii=False) for t in tools),
        date=format_date(now, timezone_for(call.initiate.phone_number)),
        saved=saved or "nothing yet",
        next=next_line,
        task=call.initiate.task,
    )
    return {"role": "system", "content": content}


def small_ack_prompt(call: CallState, now: datetime) -> dict[str, Any]:
    """The system message of a model that only acknowledges (`SMALL_ACK_TPL`)."""
    content = prompt_template(call, "small_ack").format(
        bot_name=call.initiate.bot_name,
        bot_company=call.initiate.bot_company,
        lang=call.lang.short_code,
        tools="",
        date=format_date(now, timezone_for(call.initiate.phone_number)),
        saved="",
        next="",
        task=call.initiate.task,
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


def _last_said(messages: list[Message]) -> list[dict[str, Any]]:
    """The last thing said (the caller's turn), as plain text: all that a model asked only to
    acknowledge it needs.

    Not the bot's earlier words, nor the tool calls and results stored with them: each
    turn's prompt then has ~30 new tokens instead of ~115, which a local model processes on
    the CPU before its first token (`make demo`, the 0.5B on two cores: first token 1.2 s →
    0.25 s after the request; the evaluation's scores unchanged).
    """
    for m in reversed(messages):
        if (
            m.persona in (Persona.HUMAN, Persona.ASSISTANT)
            and m.action not in (Action.CALL, Action.HANGUP)
            and m.content.strip()
        ):
            role = "user" if m.persona is Persona.HUMAN else "assistant"
            return [{"role": role, "content": _one_line(m.content)}]
    return []


def build_chat(
    call: CallState,
    now: datetime,
    *,
    max_messages: int = 20,
    max_chars: int = 24_000,
    documents: str | None = None,
    profile: Profile = "full",
    slot_hint: bool = False,
    ack_only: bool = False,
) -> list[dict[str, Any]]:
    """Full `messages` for a chat completion.

    `slot_hint` tells the model the single claim field to ask for next (a guardrail);
    `ack_only` (the small policy with guardrails) asks it only to acknowledge the last turn.
    """
    if ack_only:
        return [small_ack_prompt(call, now), *_last_said(call.messages)]
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


def _closed_claims(call: CallState) -> str:
    """The claims `new_claim` set aside in this call: post-call summarises them too."""
    if not call.closed_claims:
        return ""
    closed = [c.model_dump(mode="json", include={"closed_at", "claim"}) for c in call.closed_claims]
    return "\n\n# Claims closed earlier in this call (JSON)\n" + json.dumps(
        closed, ensure_ascii=False
    )


def post_call_context(call: CallState, now: datetime) -> dict[str, str]:
    tz_name = timezone_for(call.initiate.phone_number)
    return {
        "bot_company": call.initiate.bot_company,
        "bot_name": call.initiate.bot_name,
        "phone_number": call.initiate.phone_number,
        "date": format_date(now, tz_name),
        "lang": call.lang.short_code,
        "claim": json.dumps(call.claim, ensure_ascii=False) + _closed_claims(call),
        "reminders": json.dumps(
            [r.model_dump(mode="json", include={"title", "description", "due_date_time", "owner"})
             for r in call.reminders],
            ensure_ascii=False,
        ),
        "transcript": transcript(call, tz_name),
    }  # fmt: skip
