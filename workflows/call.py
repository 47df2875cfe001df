"""`CallWorkflow`: one per call. Holds the conversation and runs each caller turn.

Deterministic: only `domain` is imported, activities are called by name, time comes from
`workflow.now()`. Tokens and audio never pass through here: the LLM activity streams its
sentences to Redis and returns the whole message once done.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain import attributes
    from domain.call import (
        Action,
        CallState,
        CallStatus,
        Message,
        Persona,
        ToolCall,
    )
    from domain.claim import progress
    from domain.contracts import (
        HISTORY_MESSAGES,
        MAX_LLM_ITERATIONS,
        MAX_TURN_CHARS,
        CallInput,
        EmergencyInput,
        EmergencyResult,
        HangUpInput,
        LlmToolCallRequest,
        LlmTurnInput,
        LlmTurnResult,
        ReadFlagsInput,
        SaveCallInput,
        SearchInput,
        SearchResult,
        SendSmsInput,
        SendSmsResult,
        SpeakInput,
        SpeakKind,
        TransferInput,
        TransferResult,
        TurnReply,
        UserTurn,
    )
    from domain.flags import FeatureFlags
    from domain.phone import mask
    from domain.prompts import phrase
    from workflows import policies
    from workflows.call_tools import ToolPorts, run_tool


_R = TypeVar("_R")

# Flags change at run time; a call sees a change within this delay, like the flag cache.
FLAGS_MAX_AGE = timedelta(seconds=60)


def summary_for(state: CallState) -> str:
    """Static summary shown in the Temporal UI list: direction, number, company and bot."""
    direction = "Outbound call to" if state.direction == "outbound" else "Inbound call from"
    initiate = state.initiate
    return (
        f"{direction} {mask(initiate.phone_number)}, {initiate.bot_company} / {initiate.bot_name}"
    )


def details_for(state: CallState) -> str:
    """Markdown shown as "current details" in the Temporal UI: status and claim progress."""
    schema = state.claim_schema()
    filled, total = progress(state.claim, schema)
    lines = [f"**{state.status.value}** · turn {state.last_turn_id} · claim {filled}/{total}", ""]
    for field in schema:
        value = state.claim.get(field.name)
        lines.append(f"- {'✅' if value else '⬜'} {field.name}" + (f": {value}" if value else ""))
    if state.reminders:
        lines.append("")
        lines.extend(f"- ⏰ {r.title} ({r.due_date_time.isoformat()})" for r in state.reminders)
    return "\n".join(lines)


@workflow.defn
class CallWorkflow:
    @workflow.init
    def __init__(self, input: CallInput) -> None:
        if input.resume is not None:
            self.call = input.resume
        else:
            self.call = CallState(
                call_id=input.call_id,
                created_at=input.created_at or workflow.now(),
                initiate=input.initiate,
                direction=input.direction,
            )
            # Here rather than in run(): a turn sent right after the start can be handled
            # before run() begins, and must find the call already opened.
            now = workflow.now()
            self.call.messages.append(
                Message(created_at=now, persona=Persona.HUMAN, action=Action.CALL)
            )
            self.call.messages.append(
                Message(
                    created_at=now,
                    persona=Persona.ASSISTANT,
                    content=phrase("hello", self.call),
                    lang_short_code=self.call.lang.short_code,
                )
            )
            # No phone line yet: the call is live on the chat channel as soon as it starts.
            self.call.status = CallStatus.IN_PROGRESS
            self.call.last_interaction_at = now
        self._turn_lock = asyncio.Lock()
        self._save_lock = asyncio.Lock()
        self._flags = FeatureFlags()
        self._flags_read_at: datetime | None = None
        self._shown: tuple[str, int] | None = None

    # --- queries and updates -------------------------------------------------------------

    @workflow.query(name="state")
    def get_state(self) -> CallState:
        return self.call

    @workflow.update
    async def user_turn(self, turn: UserTurn) -> TurnReply:
        async with self._turn_lock:
            self._check_turn(turn)  # again: the state may have moved while this turn waited
            turn_id = turn.turn_id or self.call.last_turn_id + 1
            self.call.last_turn_id = turn_id
            self.call.last_interaction_at = workflow.now()
            action = Action.SMS if turn.channel == "sms" else Action.TALK
            self.call.messages.append(
                Message(
                    created_at=workflow.now(),
                    persona=Persona.HUMAN,
                    action=action,
                    content=turn.text.strip(),
                    lang_short_code=self.call.lang.short_code,
                    turn_id=turn_id,
                )
            )
            await self._refresh_flags()
            reply = await self._answer(turn_id)
            await self._save()
            return reply

    @user_turn.validator
    def _validate_turn(self, turn: UserTurn) -> None:
        # No rejection when continue-as-new is suggested: a rejected update runs in a
        # speculative task that is never persisted, so the main loop would never rotate the
        # history and every later turn would be rejected too. The turn runs; the main loop
        # continues as new once it has finished (the suggestion is far below the hard limit).
        self._check_turn(turn)

    def _check_turn(self, turn: UserTurn) -> None:
        text = turn.text.strip()
        if not text:
            raise ApplicationError("text is empty", type="InvalidTurn")
        if len(text) > MAX_TURN_CHARS:
            raise ApplicationError(
                f"text is {len(text)} characters; the limit is {MAX_TURN_CHARS}",
                type="InvalidTurn",
            )
        if self.call.status is CallStatus.ENDED:
            raise ApplicationError("the call has ended", type="CallEnded")
        if turn.turn_id is not None and turn.turn_id <= self.call.last_turn_id:
            raise ApplicationError(
                f"stale turn {turn.turn_id}: turn {self.call.last_turn_id} is already applied",
                type="StaleTurn",
            )

    async def _refresh_flags(self) -> None:
        """Read the live flags at most once per `FLAGS_MAX_AGE` (a local activity)."""
        now = workflow.now()
        if self._flags_read_at is not None and now - self._flags_read_at < FLAGS_MAX_AGE:
            return
        self._flags = await workflow.execute_local_activity(
            "read_flags",
            ReadFlagsInput(),
            result_type=FeatureFlags,
            start_to_close_timeout=policies.FLAGS_TIMEOUT,
        )
        self._flags_read_at = now

    # --- main loop -----------------------------------------------------------------------

    @workflow.run
    async def run(self, input: CallInput) -> CallState:  # noqa: ARG002 - read by __init__
        await self._save()

        while True:
            window = timedelta(hours=self._flags.callback_timeout_hour)
            try:
                await workflow.wait_condition(
                    lambda: (
                        self.call.status is CallStatus.ENDED
                        or workflow.info().is_continue_as_new_suggested()
                    ),
                    timeout=window if window > timedelta(0) else None,
                )
            except TimeoutError:
                if self._idle_for() >= window and self._turn_lock.locked() is False:
                    self._close_idle_call()
                continue
            break

        await workflow.wait_condition(workflow.all_handlers_finished)
        if self.call.status is not CallStatus.ENDED:
            workflow.continue_as_new(
                CallInput(
                    call_id=self.call.call_id,
                    initiate=self.call.initiate,
                    direction=self.call.direction,
                    resume=self.call,
                )
            )
        await self._save()
        return self.call

    def _idle_for(self) -> timedelta:
        last = self.call.last_interaction_at or self.call.created_at
        return workflow.now() - last

    def _close_idle_call(self) -> None:
        workflow.logger.info("closing call %s: no interaction in the window", self.call.call_id)
        self.call.status = CallStatus.ENDED
        self.call.messages.append(
            Message(created_at=workflow.now(), persona=Persona.HUMAN, action=Action.HANGUP)
        )

    # --- one caller turn ------------------------------------------------------------------

    async def _answer(self, turn_id: int) -> TurnReply:
        """Run up to three LLM iterations, applying the tools the model calls."""
        spoken: list[str] = []
        tools_used: list[str] = []
        done: dict[tuple[str, str], str] = {}
        for iteration in range(MAX_LLM_ITERATIONS):
            last = iteration == MAX_LLM_ITERATIONS - 1
            try:
                result = await self._llm(turn_id, iteration, tools_enabled=not last)
            except ActivityError as exc:
                workflow.logger.warning("LLM iteration %s failed: %s", iteration, exc.cause)
                await self._speak(turn_id, phrase("error", self.call), "error")
                if _is_fatal(exc):
                    break
                continue
            if result.content_filtered:
                self._drop_last_human_message()
                await self._speak(turn_id, phrase("content_filter", self.call), "error")
                break
            if not result.content and not result.tool_calls:
                if result.finish_reason == "length" or not last:
                    continue  # an empty answer: ask again, as the reference does
                await self._speak(turn_id, phrase("error", self.call), "error")
                break
            message = Message(
                created_at=workflow.now(),
                persona=Persona.ASSISTANT,
                style=result.style,
                content=result.content,
                lang_short_code=self.call.lang.short_code,
                turn_id=turn_id,
            )
            self.call.messages.append(message)
            if result.content:
                spoken.append(result.content)
            for request in result.tool_calls:
                message.tool_calls.append(await self._tool(turn_id, request, done))
                tools_used.append(request.name)
            if self.call.status is CallStatus.ENDED:
                break
            if not result.tool_calls and result.finish_reason != "length":
                break
        return TurnReply(
            turn_id=turn_id,
            text=" ".join(spoken),
            tool_calls=tools_used,
            status=self.call.status,
            ended=self.call.status is CallStatus.ENDED,
        )

    async def _llm(self, turn_id: int, iteration: int, *, tools_enabled: bool) -> LlmTurnResult:
        window = self.call.model_copy(
            update={"messages": self.call.messages[-HISTORY_MESSAGES:], "closed_claims": []}
        )
        result: LlmTurnResult = await workflow.execute_activity(
            "llm_turn",
            LlmTurnInput(
                call=window,
                turn_id=turn_id,
                iteration=iteration,
                tools_enabled=tools_enabled,
                flags=self._flags,
            ),
            result_type=LlmTurnResult,
            start_to_close_timeout=timedelta(seconds=self._flags.answer_hard_timeout_sec),
            heartbeat_timeout=policies.LLM_HEARTBEAT,
            retry_policy=policies.LLM_RETRY,
        )
        return result

    async def _tool(
        self, turn_id: int, request: LlmToolCallRequest, done: dict[tuple[str, str], str]
    ) -> ToolCall:
        key = (request.name, _canonical(request.arguments))
        if key in done:
            # The model repeated a call it already made this turn (reference #395): do not
            # run it twice, tell it so.
            result = f"Already done in this turn: {done[key]}"
        else:
            result = await run_tool(
                self.call, request.name, request.arguments, self._ports(turn_id)
            )
            done[key] = result
        return ToolCall(
            tool_id=request.id,
            function_name=request.name,
            function_arguments=request.arguments,
            content=result,
        )

    def _ports(self, turn_id: int) -> ToolPorts:
        async def speak(text: str) -> None:
            await self._speak(turn_id, text, "notice")

        async def hang_up(input: HangUpInput) -> None:
            await workflow.execute_activity(
                "hang_up",
                input,
                start_to_close_timeout=policies.QUICK,
                retry_policy=policies.QUICK_RETRY,
            )

        async def transfer(input: TransferInput) -> TransferResult:
            return await self._activity("transfer_call", input, TransferResult)

        async def send_sms(input: SendSmsInput) -> SendSmsResult:
            return await self._activity("send_sms", input, SendSmsResult)

        async def search(input: SearchInput) -> SearchResult:
            return await self._activity("search_documents", input, SearchResult)

        async def emergency(input: EmergencyInput) -> EmergencyResult:
            return await self._activity("notify_emergencies", input, EmergencyResult)

        return ToolPorts(
            now=workflow.now,
            speak=speak,
            hang_up=hang_up,
            transfer=transfer,
            send_sms=send_sms,
            search=search,
            emergency=emergency,
            phrase=lambda key: phrase(key, self.call),
        )

    async def _activity(self, name: str, input: object, result_type: type[_R]) -> _R:
        return await workflow.execute_activity(  # type: ignore[no-any-return]
            name,
            input,
            result_type=result_type,
            start_to_close_timeout=policies.QUICK,
            retry_policy=policies.QUICK_RETRY,
        )

    async def _speak(self, turn_id: int, text: str, kind: SpeakKind) -> None:
        await workflow.execute_activity(
            "speak",
            SpeakInput(
                call_id=self.call.call_id,
                turn_id=turn_id,
                text=text,
                kind=kind,
                lang=self.call.lang.short_code,
            ),
            start_to_close_timeout=policies.QUICK,
            retry_policy=policies.QUICK_RETRY,
        )

    def _drop_last_human_message(self) -> None:
        # As the reference: a filtered prompt is removed so it cannot poison later turns.
        for index in range(len(self.call.messages) - 1, -1, -1):
            message = self.call.messages[index]
            if message.persona is Persona.HUMAN and message.action in (Action.TALK, Action.SMS):
                del self.call.messages[index]
                return

    # --- persistence and UI ---------------------------------------------------------------

    async def _save(self) -> None:
        async with self._save_lock:
            self.call.updated_at = workflow.now()
            self._show_progress()
            # A local activity: its input (the whole state) is not written to history, and
            # it needs no server round trip; only its completion marker is recorded.
            await workflow.execute_local_activity(
                "save_call",
                SaveCallInput(call=self.call),
                start_to_close_timeout=policies.QUICK,
                retry_policy=policies.SAVE_RETRY,
            )

    def _show_progress(self) -> None:
        """Search attributes (only when they changed: each upsert is a history event and a
        visibility write) and the current details of the Temporal UI."""
        filled, _ = progress(self.call.claim, self.call.claim_schema())
        shown = (self.call.status.value, filled)
        if shown != self._shown:
            workflow.upsert_search_attributes(
                [
                    attributes.STATUS.value_set(self.call.status.value),
                    attributes.CLAIM_FILLED.value_set(filled),
                    attributes.PHONE_NUMBER.value_set(self.call.initiate.phone_number),
                    attributes.BOT_NAME.value_set(self.call.initiate.bot_name),
                ]
            )
            self._shown = shown
        workflow.set_current_details(details_for(self.call))


def _canonical(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments), sort_keys=True)
    except json.JSONDecodeError:
        return arguments


def _is_fatal(exc: ActivityError) -> bool:
    cause = exc.cause
    return isinstance(cause, ApplicationError) and cause.non_retryable
