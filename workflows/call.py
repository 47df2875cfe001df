"""`CallWorkflow`: one per call. Holds the conversation and runs each caller turn.

Deterministic: only `domain` runs here, time comes from `workflow.now()`; activities are called
through their method, the class imported passed through (typed arguments and result, the same
activity type name, so recorded histories replay). Tokens and audio never
pass through here: the LLM activity streams its sentences to Redis and returns the whole
message once done.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.llm import LlmActivities
    from activities.messaging import MessagingActivities
    from activities.post_call import PostCallActivities
    from activities.reminders import ReminderActivities
    from activities.search import SearchActivities
    from activities.telephony import TelephonyActivities
    from domain.call import (
        Action,
        CallState,
        CallStatus,
        Handoff,
        Message,
        Persona,
        Reminder,
        ToolCall,
    )
    from domain.claim import progress
    from domain.contracts import (
        HISTORY_MESSAGES,
        MAX_LLM_ITERATIONS,
        MAX_TURN_CHARS,
        AcsEvent,
        BargeIn,
        CallInput,
        CancelRemindersInput,
        EmergencyInput,
        EmergencyResult,
        IncomingCall,
        LlmToolCallRequest,
        LlmTurnInput,
        LlmTurnResult,
        PostCallInput,
        ReminderInput,
        ReminderStatusUpdate,
        ScheduleReminderInput,
        SearchInput,
        SearchResult,
        SendSmsInput,
        SendSmsResult,
        SpeakKind,
        TransferInput,
        TurnReply,
        UserTurn,
    )
    from domain.flags import FeatureFlags
    from domain.prompts import called_back, phrase
    from workflows import patches, policies
    from workflows.call_base import details_for, summary_for
    from workflows.call_phone import PhoneCall
    from workflows.call_tools import ToolPorts, run_tool, store_answers

__all__ = ["CallWorkflow", "details_for", "summary_for"]

# ACS redelivers an event within seconds to minutes: the ids of this many recent events are
# enough to recognise a second delivery, and bound the workflow's memory.
ACS_EVENTS_REMEMBERED = 256


@workflow.defn
class CallWorkflow(PhoneCall):
    @workflow.init
    def __init__(self, input: CallInput) -> None:
        if input.resume is not None:
            self.call = input.resume
        else:
            now = workflow.now()
            self.call = CallState(
                call_id=input.call_id,
                created_at=input.created_at or now,
                initiate=input.initiate,
                direction=input.direction,
                channel=input.channel,
                callback_secret=input.callback_secret,
                media_token=input.media_token,
                last_interaction_at=now,
                # Known before the call (a campaign contact's values). A call started before
                # this field existed has none, so its replay is unchanged: no patch needed.
                claim=dict(input.initiate.claim_prefill),
            )
            # Here rather than in run(): a turn sent right after the start can be handled
            # before run() begins, and must find the call already opened.
            self.call.messages.append(
                Message(created_at=now, persona=Persona.HUMAN, action=Action.CALL)
            )
            if input.channel == "chat":
                # No phone line: the call is live at once and greets in writing. A phone call
                # greets once connected, in the language the caller picked.
                self.call.messages.append(
                    Message(
                        created_at=now,
                        persona=Persona.ASSISTANT,
                        content=phrase("hello", self.call),
                        lang_short_code=self.call.lang.short_code,
                    )
                )
                self.call.status = CallStatus.IN_PROGRESS
        if input.follow_up_of is not None:
            self.call.follow_up_of = input.follow_up_of
        self._ended_by_bot = False
        self._llm_handle: workflow.ActivityHandle[LlmTurnResult] | None = None
        self._barge_in: BargeIn | None = None
        self._silences = 0
        self._incoming: IncomingCall | None = input.incoming
        self._events: list[AcsEvent] = []
        self._event_ids: deque[str] = deque(maxlen=ACS_EVENTS_REMEMBERED)
        self._turn_lock = asyncio.Lock()
        self._flags = FeatureFlags()
        self._flags_read_at = None
        self._shown = None
        self._welcome: asyncio.Task[None] | None = None  # the welcome-back turn of a call back
        self._rotates_history = False  # patch `history-rotation`, decided when the run starts
        # The reply of the turn being answered and its messages' action: the chat channel's
        # static phrases join it (see `CHAT_PHRASES_SHOWN`).
        self._reply: tuple[list[str], Action] | None = None
        self._apology: tuple[int, str] | None = None  # the chat's last unwritten apology

    # --- signals from the phone line ---------------------------------------------------------

    @workflow.signal
    def acs_event(self, event: AcsEvent) -> None:
        """A verified Call Automation event (from the API's callback endpoint)."""
        if workflow.patched(patches.ACS_EVENT_ONCE) and event.id:
            if event.id in self._event_ids:
                workflow.logger.info("ACS event %s delivered again: ignored", event.type)
                return
            self._event_ids.append(event.id)
        self._events.append(event)

    @workflow.signal
    async def reminder_update(self, update: ReminderStatusUpdate) -> None:
        """Progress of one of this call's reminders (from its `ReminderWorkflow`)."""
        for reminder in self.call.reminders:
            if reminder.title.strip().lower() == update.title.strip().lower():
                reminder.status = update.status
                reminder.attempts = update.attempts
                reminder.last_error = update.last_error
                # A state field only (no command): replays as before, no patch needed.
                reminder.last_outcome = update.last_outcome
                if update.status in ("sent", "failed", "cancelled"):
                    reminder.done_at = update.at
        await self._save()

    @workflow.signal
    def barge_in(self, event: BargeIn) -> None:
        """The caller interrupted the bot: stop thinking, keep only what they heard."""
        if event.turn_id != self.call.last_turn_id:
            return  # an interruption of an earlier turn: that answer is already settled
        self._barge_in = event
        if self._llm_handle is not None and not self._llm_handle.done():
            self._llm_handle.cancel()
        else:
            self._truncate_heard(event)

    @workflow.signal
    def caller_silent(self) -> None:
        """The media gateway heard nothing for `phone_silence_timeout_sec`."""
        self._silences += 1

    @workflow.signal
    def incoming_call(self, incoming: IncomingCall) -> None:
        """The customer calls the bot again: answer and go on with this conversation."""
        self._incoming = incoming

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
            if not workflow.patched(patches.TURN_GUARDED):
                reply = await self._take_turn(turn, turn_id, action)
                await self._save()
            else:
                try:
                    reply = await self._take_turn(turn, turn_id, action)
                finally:
                    # Whatever failed, the caller's words are stored and the call goes on.
                    await self._save()
            return reply.model_copy(update={"ended": reply.ended or self._hanging_up})

    async def _take_turn(self, turn: UserTurn, turn_id: int, action: Action) -> TurnReply:
        await self._refresh_flags()
        self.call.recognition_retry = 0  # the caller spoke: silence prompts start over
        reply = await self._answer(turn_id, action)
        if turn.channel == "sms" and turn.reply_to and reply.text:
            await self._text_back(turn.reply_to, reply.text)
        await self._cancel_reminders_if_claim_complete()
        return reply

    # --- a caller who calls back -------------------------------------------------------------

    async def _greet(self) -> None:
        """The first call's greeting; a caller who calls back gets a welcome-back turn instead,
        in the background (ACS events go on being handled while the model answers)."""
        if not called_back(self.call) or not workflow.patched(patches.WELCOME_BACK):
            await super()._greet()
            return
        self.call.last_interaction_at = workflow.now()
        self._welcome = asyncio.create_task(self._welcome_back())

    async def _welcome_back(self) -> None:
        """A short turn of the model that says where the caller was (the reference's "ongoing
        conversation" greeting), with `end_call` not offered: a caller who just called back is
        never hung up on. The static greeting when the model said nothing."""
        async with self._turn_lock:
            if not called_back(self.call) or self.call.status is not CallStatus.IN_PROGRESS:
                return  # the caller spoke first, or is gone already
            turn_id = self.call.last_turn_id + 1
            self.call.last_turn_id = turn_id
            try:
                await self._refresh_flags()
                reply = await self._answer(turn_id, blacklist=("end_call",))
                if not reply.text and self.call.status is CallStatus.IN_PROGRESS:
                    await super()._greet()
            finally:
                await self._save()

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
        if self.call.status is CallStatus.ENDED and turn.channel != "sms":
            # A text message is still welcome after the call: it is answered by SMS.
            raise ApplicationError("the call has ended", type="CallEnded")
        if turn.turn_id is not None and turn.turn_id <= self.call.last_turn_id:
            raise ApplicationError(
                f"stale turn {turn.turn_id}: turn {self.call.last_turn_id} is already applied",
                type="StaleTurn",
            )

    # --- main loop -----------------------------------------------------------------------

    @workflow.run
    async def run(self, input: CallInput) -> CallState:
        self._patches_up_front()
        self._rotates_history = workflow.patched(patches.HISTORY_ROTATION)
        await self._save()
        if input.resume is None:
            self._send_webhook("call.started")
        if self.call.channel == "phone" and input.resume is None and input.incoming is None:
            await self._until_calling_hours()  # a call with its own window waits for it
            if self.call.status is not CallStatus.ENDED:
                await self._connect(None)  # outbound: ring the customer

        while True:
            await self._converse()
            if self.call.status is not CallStatus.ENDED:
                break  # continue-as-new is suggested
            if await self._customer_calls_back():
                continue
            break

        await self._settle()
        if self.call.status is not CallStatus.ENDED:
            workflow.continue_as_new(
                CallInput(
                    call_id=self.call.call_id,
                    initiate=self.call.initiate,
                    direction=self.call.direction,
                    channel=self.call.channel,
                    resume=self.call,
                )
            )
        await self._ended_webhook()
        await self._post_call()
        await self._save()
        await self._analyzed_webhook()
        await self._webhooks.flush()
        return self.call

    async def _converse(self) -> None:
        """Handle ACS events and incoming calls until the call ends (or must rotate)."""
        while True:
            window = timedelta(hours=self._flags.callback_timeout_hour)
            try:
                await workflow.wait_condition(
                    lambda: (
                        bool(self._events)
                        or self._silences > 0
                        or self._incoming is not None
                        or self.call.status is CallStatus.ENDED
                        or self._must_rotate()
                    ),
                    timeout=window if window > timedelta(0) else None,
                )
            except TimeoutError:
                if self._idle_for() >= window and not self._turn_lock.locked():
                    self._close_idle_call()
                continue
            if self._incoming is not None:
                incoming, self._incoming = self._incoming, None
                if self.call.connection_id is not None:
                    self._reopen(incoming)
                await self._connect(incoming)
                continue
            if self._events:
                await self._on_event(self._events.pop(0))
                continue
            if self._silences > 0:
                self._silences = 0
                await self._on_silence()
                continue
            return

    async def _settle(self) -> None:
        """Before the run closes: every handler finished, the welcome-back turn done, and the
        webhook events enqueued. With `history-rotation`, until no handler runs at the moment
        of closing: a turn that arrived while the events were enqueued (an activity) was cut by
        continue-as-new after the turn was counted, so its resend was refused as stale and the
        caller's words were lost (8 of 1,907 voice turns in the soak at 400 events a run)."""
        while True:
            await workflow.wait_condition(workflow.all_handlers_finished)
            if self._welcome is not None:
                await self._welcome  # a welcome-back turn is part of the call and its summary
            await self._webhooks.flush()  # the events so far are enqueued before the run closes
            if not self._rotates_history or workflow.all_handlers_finished():
                return

    def _must_rotate(self) -> bool:
        """Continue as new when Temporal suggests it, and past the flag
        `history_rotate_events`: a worker's core keeps a state machine for every event of each
        run it caches, so a long call held memory in proportion to its history (the 20-minute
        soak: +7 MB per minute per worker, +77 %). A fresh run starts from the call's state."""
        info = workflow.info()
        if info.is_continue_as_new_suggested():
            return True
        limit = self._flags.history_rotate_events
        return self._rotates_history and 0 < limit < info.get_current_history_length()

    async def _customer_calls_back(self) -> bool:
        """After a dropped phone call, wait for a call back within `callback_timeout_hour`.

        Not after the bot ended the call itself: the conversation was complete.
        """
        if self.call.channel != "phone" or self._ended_by_bot:
            return False
        window = timedelta(hours=self._flags.callback_timeout_hour)
        try:
            await workflow.wait_condition(lambda: self._incoming is not None, timeout=window)
        except TimeoutError:
            return False
        return window > timedelta(0)

    async def _post_call(self) -> None:
        """Synthesis, next action and the SMS summary, when the customer said something."""
        if not self.call.had_interaction():
            return
        if self.call.post_call_at is not None and not (
            self._talked_since(self.call.post_call_at)
            and workflow.patched(patches.POST_CALL_AFTER_RESUME)
        ):
            return  # done, and nothing said since (a resumed call got new words: done again)
        try:
            result = await workflow.execute_activity_method(
                PostCallActivities.post_call,
                PostCallInput(call=self.call.without_secrets()),
                start_to_close_timeout=policies.POST_CALL,
                heartbeat_timeout=policies.POST_CALL_HEARTBEAT,
                retry_policy=policies.QUICK_RETRY,
            )
        except ActivityError as exc:
            workflow.logger.warning("post-call failed: %s", exc.cause)
            return
        self.call.usage.add_llm(result.usage)  # the post-call completions' tokens
        self.call.synthesis = result.synthesis or self.call.synthesis
        self.call.next = result.next or self.call.next
        if result.sms_summary:
            to = self.call.claim.get("policyholder_phone") or self.call.initiate.phone_number
            try:
                await self._activity(
                    MessagingActivities.send_sms,
                    SendSmsInput(call_id=self.call.call_id, to=to, body=result.sms_summary),
                )
                self.call.messages.append(
                    Message(
                        created_at=workflow.now(),
                        persona=Persona.ASSISTANT,
                        action=Action.SMS,
                        content=result.sms_summary,
                    )
                )
            except ActivityError as exc:
                workflow.logger.warning("SMS summary not sent: %s", exc.cause)
        self.call.post_call_at = workflow.now()

    def _talked_since(self, moment: datetime) -> bool:
        return any(
            m.persona is Persona.HUMAN and m.action is Action.TALK and m.created_at > moment
            for m in self.call.messages
        )

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

    async def _text_back(self, to: str, text: str) -> None:
        """Answer an SMS turn by SMS (the reference only stored inbound messages)."""
        await self._activity(
            MessagingActivities.send_sms,
            SendSmsInput(call_id=self.call.call_id, to=to, body=text[:1_600]),
        )

    async def _answer(
        self, turn_id: int, action: Action = Action.TALK, blacklist: tuple[str, ...] = ()
    ) -> TurnReply:
        """Run up to three LLM iterations, applying the tools the model calls."""
        spoken: list[str] = []
        self._reply = (spoken, action)
        self._apology = None
        tools_used: list[str] = []
        done: dict[tuple[str, str], str] = {}
        for iteration in range(MAX_LLM_ITERATIONS):
            last = iteration == MAX_LLM_ITERATIONS - 1
            if self._interrupted(turn_id):
                break
            try:
                result = await self._llm(
                    turn_id, iteration, tools_enabled=not last, blacklist=blacklist
                )
            except ActivityError as exc:
                if self._interrupted(turn_id):
                    self._keep_heard(turn_id, spoken)
                    break
                workflow.logger.warning("LLM iteration %s failed: %s", iteration, exc.cause)
                spoken_error = await self._phrase(turn_id, "error", "error")
                if _is_fatal(exc) or not spoken_error:
                    break  # the stream is down: another iteration would fail the same way
                continue
            if result.content_filtered:
                self._drop_last_human_message()
                await self._phrase(turn_id, "content_filter", "error")
                break
            if not result.content and not result.tool_calls:
                if result.finish_reason == "length" or not last:
                    continue  # an empty answer: ask again, as the reference does
                await self._phrase(turn_id, "error", "error")
                break
            self._keep_policy(result)
            message = Message(
                created_at=workflow.now(),
                persona=Persona.ASSISTANT,
                action=action,
                style=result.style,
                content=result.content,
                lang_short_code=self.call.lang.short_code,
                turn_id=turn_id,
            )
            self.call.messages.append(message)
            if result.content:
                spoken.append(result.content)
            if result.prefill:
                # The model was shown these answers as stored already: store them.
                tool_id = f"guardrail_{turn_id}_{iteration}_answers"
                message.tool_calls.append(store_answers(self.call, result.prefill, tool_id))
                tools_used.append(message.tool_calls[-1].function_name)
            for request in result.tool_calls:
                message.tool_calls.append(
                    await self._tool(turn_id, request, done, guardrails=result.guardrails)
                )
                tools_used.append(request.name)
            if self.call.status is CallStatus.ENDED or self._hanging_up:
                break
            if self.call.channel == "phone" and self.call.status is CallStatus.TRANSFERRING:
                break  # the notice is playing; the transfer follows
            if not result.tool_calls and result.finish_reason != "length":
                break
        if self._apology is not None and not spoken:
            self._show_phrase(*self._apology)  # the turn's only answer: the chat shows it
        return TurnReply(
            turn_id=turn_id,
            text=" ".join(spoken),
            tool_calls=tools_used,
            status=self.call.status,
            ended=self.call.status is CallStatus.ENDED,
        )

    def _keep_policy(self, result: LlmTurnResult) -> None:
        """The turn policy of the call's first turn is the call's (`domain/turn/`)."""
        if result.turn_policy is None or self.call.turn_policy is not None:
            return
        if workflow.patched(patches.TURN_POLICY_STATE):
            self.call.turn_policy = result.turn_policy
            self.call.turn_guardrails = result.guardrails

    async def _phrase(self, turn_id: int, name: str, kind: SpeakKind) -> bool:
        """Speak a static phrase of the turn; False when it could not be (see `TURN_GUARDED`)."""
        text = phrase(name, self.call)
        if workflow.patched(patches.TURN_GUARDED):
            said = await self._speak_guarded(turn_id, text, kind)
        else:
            await self._speak(turn_id, text, kind)
            said = True
        if self.call.channel == "chat" and workflow.patched(patches.CHAT_PHRASES_SHOWN):
            if kind == "error":
                self._apology = (turn_id, text)  # shown if the turn says nothing else
            else:
                self._show_phrase(turn_id, text)
        return said

    def _show_phrase(self, turn_id: int, text: str) -> None:
        """A chat has no voice: what the bot says is what it writes, in the reply and the
        transcript (the stream alone reached only a client that listened to it). An apology
        followed by an answer stays unwritten: the answer is what a chat reader needs."""
        spoken, action = self._reply or ([], Action.TALK)
        spoken.append(text)
        self.call.messages.append(
            Message(
                created_at=workflow.now(),
                persona=Persona.ASSISTANT,
                action=action,
                content=text,
                lang_short_code=self.call.lang.short_code,
                turn_id=turn_id,
            )
        )

    def _interrupted(self, turn_id: int) -> bool:
        return self._barge_in is not None and self._barge_in.turn_id == turn_id

    def _keep_heard(self, turn_id: int, spoken: list[str]) -> None:
        """The answer was cut while being generated: store only what the caller heard."""
        heard = self._barge_in.heard_text.strip() if self._barge_in else ""
        if heard:
            self.call.messages.append(
                Message(
                    created_at=workflow.now(),
                    persona=Persona.ASSISTANT,
                    content=heard,
                    lang_short_code=self.call.lang.short_code,
                    turn_id=turn_id,
                )
            )
            spoken.append(heard)

    def _truncate_heard(self, event: BargeIn) -> None:
        """The answer was complete but only partly played: keep the heard part of its text."""
        for message in reversed(self.call.messages):
            if message.turn_id == event.turn_id and message.persona is Persona.ASSISTANT:
                if message.content:
                    message.content = event.heard_text.strip()
                return

    async def _llm(
        self, turn_id: int, iteration: int, *, tools_enabled: bool, blacklist: tuple[str, ...] = ()
    ) -> LlmTurnResult:
        window = self.call.without_secrets().model_copy(
            update={"messages": self.call.messages[-HISTORY_MESSAGES:], "closed_claims": []}
        )
        input = LlmTurnInput(
            call=window,
            turn_id=turn_id,
            iteration=iteration,
            tools_enabled=tools_enabled,
            blacklist=list(blacklist),
            flags=self._flags,
        )
        hard = timedelta(seconds=self._flags.answer_hard_timeout_sec)
        if workflow.patched(patches.LLM_TURN_RETRY):
            self._llm_handle = workflow.start_activity_method(
                LlmActivities.llm_turn,
                input,
                start_to_close_timeout=hard,
                schedule_to_close_timeout=hard,  # all attempts: then the workflow apologises
                heartbeat_timeout=policies.LLM_HEARTBEAT_RETRIED,
                retry_policy=(
                    policies.LLM_RETRY_UNTIL_HARD
                    if workflow.patched(patches.LLM_TURN_UNTIL_HARD)
                    else policies.LLM_RETRY_SAFE
                ),
            )
        else:
            self._llm_handle = workflow.start_activity_method(
                LlmActivities.llm_turn,
                input,
                start_to_close_timeout=hard,
                heartbeat_timeout=policies.LLM_HEARTBEAT,
                retry_policy=policies.LLM_RETRY,
            )
        try:
            result = await self._llm_handle
        finally:
            self._llm_handle = None
        self.call.usage.add_llm(result.usage)  # tokens per model (`domain/usage.py`)
        return result

    async def _tool(
        self,
        turn_id: int,
        request: LlmToolCallRequest,
        done: dict[tuple[str, str], str],
        *,
        guardrails: bool,
    ) -> ToolCall:
        key = (request.name, _canonical(request.arguments))
        if key in done:
            # The model repeated a call it already made this turn (reference #395): do not
            # run it twice, tell it so.
            result = f"Already done in this turn: {done[key]}"
        else:
            result = await run_tool(
                self.call, request.name, request.arguments, self._ports(turn_id, guardrails)
            )
            done[key] = result
        return ToolCall(
            tool_id=request.id,
            function_name=request.name,
            function_arguments=request.arguments,
            content=result,
        )

    def _ports(self, turn_id: int, guardrails: bool) -> ToolPorts:
        async def end_call() -> str:
            self._ended_by_bot = True
            if self.call.channel == "phone":
                await self._goodbye()  # the hang-up follows PlayCompleted
                return "Saying goodbye; the call ends after it."
            await self._phrase(turn_id, "goodbye", "notice")
            await self._hang_up_now()
            self.call.status = CallStatus.ENDED
            self.call.messages.append(
                Message(created_at=workflow.now(), persona=Persona.HUMAN, action=Action.HANGUP)
            )
            return "Call ended."

        async def talk_to_human() -> str:
            if self.call.channel == "phone":
                await self._request_transfer()  # the transfer follows PlayCompleted
                return "Transfer to a human agent started."
            await self._phrase(turn_id, "end_call_to_connect_agent", "notice")
            target = self.call.initiate.agent_phone_number
            result = await self._activity(
                TelephonyActivities.transfer_call,
                TransferInput(call_id=self.call.call_id, connection_id=None, target=target),
            )
            self.call.handoff = Handoff(
                requested_at=workflow.now(),
                target=target,
                status=result.status,
                detail=result.detail,
            )
            return f"Hand-off queued: {result.detail}"

        async def send_sms(input: SendSmsInput) -> SendSmsResult:
            return await self._activity(MessagingActivities.send_sms, input)

        async def search(input: SearchInput) -> SearchResult:
            return await self._activity(SearchActivities.search_documents, input)

        async def emergency(input: EmergencyInput) -> EmergencyResult:
            return await self._activity(MessagingActivities.notify_emergencies, input)

        async def schedule_reminder(reminder: Reminder) -> None:
            await self._activity(
                ReminderActivities.schedule_reminder,
                ScheduleReminderInput(
                    reminder=ReminderInput(
                        call_id=self.call.call_id,
                        reminder=reminder,
                        initiate=self.call.initiate,
                        claim=dict(self.call.claim),
                    )
                ),
            )
            self._reminder_webhook(reminder)

        return ToolPorts(
            now=workflow.now,
            schedule_reminder=schedule_reminder,
            end_call=end_call,
            talk_to_human=talk_to_human,
            send_sms=send_sms,
            search=search,
            emergency=emergency,
            guardrails=guardrails,
        )

    async def _cancel_reminders_if_claim_complete(self) -> None:
        """A completed claim needs no more follow-up: cancel the open reminders."""
        filled, total = progress(self.call.claim, self.call.claim_schema())
        open_ = [r for r in self.call.reminders if r.status in ("scheduled", "retrying")]
        if filled < total or not open_:
            return
        await self._action(
            ReminderActivities.cancel_reminders,
            CancelRemindersInput(call_id=self.call.call_id, titles=[r.title for r in open_]),
        )
        for reminder in open_:
            reminder.status = "cancelled"
            reminder.done_at = workflow.now()

    def _drop_last_human_message(self) -> None:
        # As the reference: a filtered prompt is removed so it cannot poison later turns.
        for index in range(len(self.call.messages) - 1, -1, -1):
            message = self.call.messages[index]
            if message.persona is Persona.HUMAN and message.action in (Action.TALK, Action.SMS):
                del self.call.messages[index]
                return


def _canonical(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments), sort_keys=True)
    except json.JSONDecodeError:
        return arguments


def _is_fatal(exc: ActivityError) -> bool:
    cause = exc.cause
    return isinstance(cause, ApplicationError) and cause.non_retryable
