"""How the workflow applies each LLM tool. Pure state changes here; I/O through activities."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime

from pydantic import ValidationError

from domain.call import (
    Action,
    CallState,
    ClosedClaim,
    Emergency,
    Message,
    Persona,
    Reminder,
    ToolCall,
)
from domain.claim import FieldUpdate, apply_updates, parse_datetime
from domain.contracts import (
    EmergencyInput,
    EmergencyResult,
    SearchInput,
    SearchResult,
    SendSmsInput,
    SendSmsResult,
)
from domain.guardrails import (
    apply_grounded_updates,
    hang_up_refusal,
    transfer_refusal,
)
from domain.phone import timezone_for
from domain.tools import (
    ARGS_MODELS,
    NotifyEmergenciesArgs,
    ReminderArgs,
    SearchDocumentArgs,
    SendSmsArgs,
    SpeechLangArgs,
    SpeechSpeedArgs,
    ToolArgs,
    ToolName,
    UpdatedClaimArgs,
)


class ToolPorts:
    """The side effects tools may need, given by the workflow (activities behind them).

    `end_call` and `talk_to_human` depend on the channel (a phone call plays a goodbye or a
    notice first and acts on its completion), so the workflow implements them whole.
    `guardrails` checks the model's calls against what the caller said before running them.
    """

    def __init__(
        self,
        *,
        now: Callable[[], datetime],
        end_call: Callable[[], Awaitable[str]],
        talk_to_human: Callable[[], Awaitable[str]],
        send_sms: Callable[[SendSmsInput], Awaitable[SendSmsResult]],
        search: Callable[[SearchInput], Awaitable[SearchResult]],
        emergency: Callable[[EmergencyInput], Awaitable[EmergencyResult]],
        schedule_reminder: Callable[[Reminder], Awaitable[None]],
        guardrails: bool = False,
    ) -> None:
        self.now = now
        self.end_call = end_call
        self.talk_to_human = talk_to_human
        self.send_sms = send_sms
        self.search = search
        self.emergency = emergency
        self.schedule_reminder = schedule_reminder
        self.guardrails = guardrails


async def run_tool(call: CallState, name: str, arguments: str, ports: ToolPorts) -> str:
    """Apply one tool call to `call` and return the result text for the LLM.

    Errors are returned as text too: the model reads them and asks the customer again.
    """
    model = ARGS_MODELS.get(name)
    if model is None:
        return f"Error: unknown tool {name!r}."
    try:
        args = model.model_validate(json.loads(arguments or "{}"))
    except (ValidationError, json.JSONDecodeError) as exc:
        return f"Error: invalid arguments for {name}: {_short(exc)}"
    handler = _HANDLERS[ToolName(name)]
    return await handler(call, args, ports)


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}" for e in exc.errors()
        )
    return str(exc)


def _tz(call: CallState) -> str:
    return timezone_for(call.initiate.phone_number)


async def _updated_claim(call: CallState, args: ToolArgs, ports: ToolPorts) -> str:
    assert isinstance(args, UpdatedClaimArgs)
    if ports.guardrails:
        results = apply_grounded_updates(call, args.updates)
    else:
        results = apply_updates(call.claim, call.claim_schema(), args.updates, _tz(call))
    return "\n".join(r.line() for r in results)


def store_answers(call: CallState, updates: list[FieldUpdate], tool_id: str) -> ToolCall:
    """Store what the guardrails took from the caller's turn, as an `updated_claim` call.

    Recorded like a call of the model so the history shows where each value came from.
    """
    results = apply_updates(call.claim, call.claim_schema(), updates, _tz(call))
    arguments = {"updates": [u.model_dump(mode="json") for u in updates]}
    return ToolCall(
        tool_id=tool_id,
        function_name=ToolName.UPDATED_CLAIM,
        function_arguments=json.dumps(arguments, ensure_ascii=False),
        content="\n".join(r.line() for r in results),
    )


async def _reminder(call: CallState, args: ToolArgs, ports: ToolPorts) -> str:
    assert isinstance(args, ReminderArgs)
    try:
        due = parse_datetime(args.due_date_time, _tz(call))
    except ValueError as exc:
        return f"Error: due_date_time {exc}"
    now = ports.now()
    for reminder in call.reminders:
        if reminder.title.strip().lower() == args.title.strip().lower():
            reminder.description = args.description or reminder.description
            reminder.due_date_time = due
            reminder.owner = args.owner or reminder.owner
            reminder.updated_at = now
            reminder.status = "scheduled"
            reminder.attempts = 0
            await ports.schedule_reminder(reminder)
            return f'Reminder "{reminder.title}" updated, due {due.isoformat()}.'
    reminder = Reminder(
        created_at=now,
        title=args.title.strip(),
        description=args.description,
        due_date_time=due,
        owner=args.owner,
    )
    call.reminders.append(reminder)
    await ports.schedule_reminder(reminder)
    return f'Reminder "{reminder.title}" created, due {due.isoformat()}.'


async def _new_claim(call: CallState, args: ToolArgs, ports: ToolPorts) -> str:
    del args
    # The reference spawned empty claims in a loop (#403): refuse while nothing is collected.
    if not any(call.claim.values()):
        return "Error: the current claim is still empty; keep filling it instead."
    call.closed_claims.append(
        ClosedClaim(closed_at=ports.now(), claim=dict(call.claim), reminders=list(call.reminders))
    )
    call.claim = {}
    call.reminders = []
    return "A new claim was started; the previous one is saved. Ask about the new incident."


async def _speech_speed(call: CallState, args: ToolArgs, ports: ToolPorts) -> str:
    assert isinstance(args, SpeechSpeedArgs)
    del ports
    if not 0.75 <= args.speed <= 1.25:
        return f"Error: speed {args.speed} is out of range; use 0.75 to 1.25."
    call.prosody_rate = args.speed
    return f"Speech speed set to {args.speed}."


async def _speech_lang(call: CallState, args: ToolArgs, ports: ToolPorts) -> str:
    assert isinstance(args, SpeechLangArgs)
    del ports
    codes = [lang.short_code for lang in call.initiate.lang.availables]
    if args.lang not in codes:
        return f"Error: language {args.lang!r} is not available; use one of {', '.join(codes)}."
    call.lang_short_code = args.lang
    return f"Language set to {args.lang}. Speak {args.lang} from now on."


async def _end_call(call: CallState, args: ToolArgs, ports: ToolPorts) -> str:
    del args
    if ports.guardrails and (refusal := hang_up_refusal(call)):
        return refusal
    return await ports.end_call()


async def _talk_to_human(call: CallState, args: ToolArgs, ports: ToolPorts) -> str:
    del args
    if ports.guardrails and (refusal := transfer_refusal(call)):
        return refusal
    return await ports.talk_to_human()


async def _send_sms(call: CallState, args: ToolArgs, ports: ToolPorts) -> str:
    assert isinstance(args, SendSmsArgs)
    to = call.claim.get("policyholder_phone") or call.initiate.phone_number
    result = await ports.send_sms(SendSmsInput(call_id=call.call_id, to=to, body=args.message))
    call.messages.append(
        Message(
            created_at=ports.now(),
            persona=Persona.ASSISTANT,
            action=Action.SMS,
            content=args.message,
        )
    )
    return f"SMS sent to {to} (id {result.message_id})."


async def _search_document(call: CallState, args: ToolArgs, ports: ToolPorts) -> str:
    assert isinstance(args, SearchDocumentArgs)
    result = await ports.search(SearchInput(queries=args.queries, lang=call.lang.short_code))
    return result.text


async def _notify_emergencies(call: CallState, args: ToolArgs, ports: ToolPorts) -> str:
    assert isinstance(args, NotifyEmergenciesArgs)
    result = await ports.emergency(
        EmergencyInput(
            call_id=call.call_id,
            service=args.service,
            reason=args.reason,
            location=args.location,
            contact=args.contact,
            agent_phone_number=call.initiate.agent_phone_number,
        )
    )
    call.emergencies.append(
        Emergency(
            created_at=ports.now(),
            service=args.service,
            reason=args.reason,
            location=args.location,
            contact=args.contact,
            notified=result.notified,
        )
    )
    return f"Emergency reported to the on-duty agent ({args.service}): {result.detail}."


_Handler = Callable[[CallState, ToolArgs, ToolPorts], Awaitable[str]]

_HANDLERS: dict[ToolName, _Handler] = {
    ToolName.UPDATED_CLAIM: _updated_claim,
    ToolName.NEW_OR_UPDATED_REMINDER: _reminder,
    ToolName.NEW_CLAIM: _new_claim,
    ToolName.SPEECH_SPEED: _speech_speed,
    ToolName.SPEECH_LANG: _speech_lang,
    ToolName.END_CALL: _end_call,
    ToolName.TALK_TO_HUMAN: _talk_to_human,
    ToolName.SEND_SMS: _send_sms,
    ToolName.SEARCH_DOCUMENT: _search_document,
    ToolName.NOTIFY_EMERGENCIES: _notify_emergencies,
}
