"""The phone side of `CallWorkflow`: connecting, the language menu, ACS events, goodbye,
transfer. Mixed into the workflow class; everything here runs inside the workflow.

Operation contexts tie ACS's asynchronous events to what the workflow asked for: a goodbye
that finished playing hangs up, a transfer notice that finished playing transfers. No fixed
sleeps: the workflow reacts to `PlayCompleted` / `PlayFailed`.

When the media stream stops (its gateway died), ACS is asked to stream again, at once then
backing off (durable timers); when no gateway takes it, the caller is told through ACS and the
call ends rather than staying silent.

A callback can be lost (the API down while ACS delivers it; ACS's retries are few and short):
while a call is still starting after `connect_call`, durable timers ask ACS for the
connection's state, backing off, and an answer stands in for the lost `CallConnected` or
`CallDisconnected`. A call still not connected after `CONNECT_CHECKS` is hung up and ended.
The same for the other waits on a callback: a goodbye or transfer notice whose `PlayCompleted`
is overdue goes on as if it came, and a hang-up whose `CallDisconnected` does not come is
checked with ACS and the call ended.

Every call ends with an outcome (`domain/outcome.py`), settled when the state is saved ended:
`CreateCallFailed`'s result code (busy, rejected, no answer, failed), who hung up (the bot after
a conversation: completed; the callee: caller_hung_up; either before anyone spoke: abandoned),
a transfer, or the answering-machine detector (voicemail).

Answering-machine detection (ACS has none): an outbound call with a `machine_action` does not
greet on `CallConnected`; the media gateway listens to the answer (`media_gateway/amd.py`) and
signals `machine_detected`. A human (or no decision within `AMD_WAIT`) is greeted; a machine is
hung up on, or gets the voicemail message once its greeting ended (the beep).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Literal

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.campaign_hours import CallingHoursActivities, CallingSlotInput
    from activities.telephony import TelephonyActivities
    from domain import attributes
    from domain.call import (
        Action,
        CallStatus,
        Handoff,
        MachineDetection,
        MachineDetectionView,
        Message,
        Persona,
        outcome_of_failure,
        result_code,
        voicemail_message,
    )
    from domain.contracts import (
        AcsEvent,
        ConnectInput,
        ConnectionState,
        ConnectionStateInput,
        HangUpInput,
        IncomingCall,
        MediaInput,
        PlayInput,
        PromptPart,
        RecognizeChoice,
        RecognizeInput,
        RecordingInput,
        TransferInput,
    )
    from domain.outcome import CallOutcome
    from domain.phone import timezone_for
    from domain.prompts import language_menu_entries, phrase
    from workflows import patches
    from workflows.call_transfer import ANSWER, PARTICIPANTS_UPDATED, WARM_OVERDUE, WarmTransfer

GOODBYE = "goodbye"
IVR = "ivr_lang_select"
TRANSFER = "transfer_notice"
TRANSFER_FAILED = "transfer_failed"
MEDIA_LOST = "media_lost"
MAX_MEDIA_RESTARTS = 5  # before patch `media-restart-backoff`: per call, all at once
# After it: the first restart at once (a healthy gateway takes over in ~0.05 s), then backing
# off; ~15 s of silence in all before the caller is told and the call ends.
MEDIA_RESTART_DELAYS = tuple(timedelta(seconds=s) for s in (0, 0.5, 1, 2, 4, 8))
# A stream that stayed up this long was restored: a later stop starts the count over. A
# shorter one (a gateway that accepts then dies at once) keeps counting, so a crash loop
# still ends in the give-up rather than in restarts forever.
MEDIA_STABLE = timedelta(seconds=10)
# While a call is starting, ACS is asked for its state after each of these (from
# `connect_call`: 3, 9, 21, 45, 75, 105 s). An outbound call may ring a minute before a human
# answers, so a ringing ("connecting") call is never cut short before ~105 s.
CONNECT_CHECKS = tuple(timedelta(seconds=s) for s in (3, 6, 12, 24, 30, 30))
CONNECTED_STATES = frozenset({"connected", "transferring", "transferAccepted"})
GONE_STATES = frozenset({"disconnecting", "disconnected", "gone"})
RECONCILED = "reconciled"  # id prefix of the events that stand in for lost callbacks
# After a hang-up, ACS is asked after each of these (2, 6, 14 s) while no CallDisconnected came;
# after the last the call is ended here whatever ACS says.
HANG_UP_CHECKS = tuple(timedelta(seconds=s) for s in (2, 4, 8))
# A goodbye or transfer notice whose PlayCompleted/PlayFailed did not come after this (plus
# its text's reading time) goes on as if it had: the phrases last a few seconds.
PLAY_OVERDUE = timedelta(seconds=20)
PLAY_CHARS_PER_S = 10
FOLLOWED_PLAYS = (GOODBYE, TRANSFER)  # plays whose end the call waits for
TONES = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# Answering-machine detection: the gateway decides within a few seconds of the answer; with no
# decision by AMD_WAIT the callee is greeted as a human (a silent line is rather a person).
# A machine's greeting that gives no beep is taken as ended after BEEP_WAIT.
MACHINE_DETECTION = "MachineDetection"  # type of the internal event the signal queues
AMD_WAIT = timedelta(seconds=8)
BEEP_WAIT = timedelta(seconds=15)
AmdState = Literal["off", "pending", "awaiting_beep", "done"]


class PhoneCall(WarmTransfer):
    """Phone-call behaviour of `CallWorkflow`."""

    _media_restarts: int = 0
    _media_started_at: datetime | None = None
    _hanging_up: bool = False
    _connected_on: str | None = None  # the connection whose CallConnected was handled
    # Immutable, replaced on change: a class default shared by every instance stays empty.
    _plays_done: tuple[str, ...] = ()  # contexts of the PlayCompleted/PlayFailed handled
    _stood_in: frozenset[str] = frozenset()  # contexts whose overdue end was stood in for
    _events: list[AcsEvent]
    _ended_by_bot: bool
    _amd_state: AmdState = "off"
    _outcome_shown: str | None = None  # the CallOutcome search attribute as last upserted
    _media_gave_up: bool = False
    _never_connected: bool = False  # the line ended before CallConnected
    _end_event: AcsEvent | None = None  # the CallDisconnected that ended the line

    # --- connecting -------------------------------------------------------------------------

    async def _until_calling_hours(self) -> None:
        """An outbound call with its own `calling_hours` placed outside them waits (a durable
        timer) for their next opening in the callee's zone, from their number; a call ended
        meanwhile stops waiting (and is not dialled)."""
        initiate = self.call.initiate
        if initiate.calling_hours is None or not workflow.patched(patches.CALL_HOURS):
            return
        tz = timezone_for(initiate.phone_number)
        slot = await self._activity(
            CallingHoursActivities.calling_slot,
            CallingSlotInput(tz=tz, at=workflow.now(), window=initiate.calling_hours),
        )
        wait = slot.opens_at - workflow.now()
        if wait <= timedelta(0):
            return
        workflow.set_current_details(
            f"**waiting for calling hours** · dials at {slot.opens_at.isoformat()} ({tz})"
        )
        try:
            await workflow.wait_condition(
                lambda: self.call.status is CallStatus.ENDED, timeout=wait
            )
        except TimeoutError:
            pass

    async def _connect(self, incoming: IncomingCall | None) -> None:
        """Ring the customer, or answer their call; media starts at once with one language."""
        await self._refresh_flags()
        call = self.call
        single_language = len(call.initiate.lang.availables) == 1
        connection = await self._activity(
            TelephonyActivities.connect_call,
            ConnectInput(
                call_id=call.call_id,
                to=call.initiate.phone_number,
                incoming_call_context=incoming.incoming_call_context if incoming else None,
                start_media=single_language,
            ),
        )
        call.connection_id = connection.connection_id
        call.server_call_id = connection.server_call_id or call.server_call_id
        await self._save()
        if workflow.patched(patches.CONNECT_RECONCILE):
            # A background task: events keep being handled while it waits.
            asyncio.create_task(self._reconcile_connect(connection.connection_id))  # noqa: RUF006

    def _awaiting_connect(self, connection_id: str) -> bool:
        """The call still waits for the connection's first callback (none queued either)."""
        call = self.call
        return (
            call.connection_id == connection_id
            and call.status is CallStatus.STARTING
            and not any(
                e.type in ("CallConnected", "CallDisconnected")
                and e.connection_id in (None, connection_id)
                for e in self._events
            )
        )

    async def _reconcile_connect(self, connection_id: str) -> None:
        """Ask ACS while the connection's `CallConnected` is overdue; its answer stands in for
        the lost event. No answer after the last check: hang up and end the call."""
        for delay in CONNECT_CHECKS:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: not self._awaiting_connect(connection_id), timeout=delay
                )
            if not self._awaiting_connect(connection_id):
                return
            state = await self._connection_state(connection_id)
            if not self._awaiting_connect(connection_id):
                return
            if state.state in CONNECTED_STATES:
                workflow.logger.warning("CallConnected overdue: ACS says connected")
                self._events.append(
                    AcsEvent(
                        id=f"{RECONCILED}-connected-{connection_id}",
                        type="CallConnected",
                        connection_id=connection_id,
                        server_call_id=state.server_call_id,
                    )
                )
                return
            if state.state in GONE_STATES:
                self._stand_in_disconnected(connection_id, f"the call is {state.state} at ACS")
                return
        workflow.logger.warning("call not connected after the last check: hanging up")
        try:
            await self._hang_up_now()
        except ActivityError as exc:
            workflow.logger.warning("hang-up failed: %s", exc.cause)
        if self._awaiting_connect(connection_id):
            self._stand_in_disconnected(connection_id, "not connected: gave up waiting")

    def _awaiting_disconnect(self, connection_id: str) -> bool:
        call = self.call
        return (
            call.connection_id == connection_id
            and call.status is not CallStatus.ENDED
            and not any(e.type == "CallDisconnected" for e in self._events)
        )

    async def _reconcile_hang_up(self, connection_id: str) -> None:
        """After a hang-up ACS accepted: while its `CallDisconnected` is overdue, ask ACS;
        after the last check the call is ended here (the line was hung up)."""
        for delay in HANG_UP_CHECKS:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: not self._awaiting_disconnect(connection_id), timeout=delay
                )
            if not self._awaiting_disconnect(connection_id):
                return
            state = await self._connection_state(connection_id)
            if not self._awaiting_disconnect(connection_id):
                return
            if state.state in GONE_STATES:
                self._stand_in_disconnected(connection_id, f"hung up: {state.state} at ACS")
                return
        self._stand_in_disconnected(connection_id, "hung up: no CallDisconnected came")

    def _follow_play(self, context: str, text: str) -> None:
        """Go on as if the play ended when its PlayCompleted/PlayFailed is overdue."""
        if context not in FOLLOWED_PLAYS or not workflow.patched(patches.CALLBACK_OVERDUE):
            return
        seen = self._plays_done.count(context)
        overdue = PLAY_OVERDUE + timedelta(seconds=len(text) / PLAY_CHARS_PER_S)
        asyncio.create_task(self._play_overdue(context, seen, overdue))  # noqa: RUF006

    async def _play_overdue(self, context: str, seen: int, overdue: timedelta) -> None:
        def settled() -> bool:
            return self._plays_done.count(context) > seen or self.call.status is CallStatus.ENDED

        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(settled, timeout=overdue)
        if settled() or any(e.operation_context == context for e in self._events):
            return
        workflow.logger.warning("%s: PlayCompleted overdue; going on", context)
        self._stood_in = self._stood_in | {context}
        self._events.append(
            AcsEvent(
                id=f"{RECONCILED}-played-{context}-{seen}",
                type="PlayCompleted",
                connection_id=self.call.connection_id,
                operation_context=context,
            )
        )

    def _stand_in_disconnected(self, connection_id: str, reason: str) -> None:
        workflow.logger.warning("call ended without its CallDisconnected: %s", reason)
        self._events.append(
            AcsEvent(
                id=f"{RECONCILED}-disconnected-{connection_id}",
                type="CallDisconnected",
                connection_id=connection_id,
                result_message=reason,
            )
        )

    async def _connection_state(self, connection_id: str) -> ConnectionState:
        """ACS's state of the connection; "unknown" when ACS does not answer (next check)."""
        try:
            return await self._activity(
                TelephonyActivities.call_connection_state,
                ConnectionStateInput(call_id=self.call.call_id, connection_id=connection_id),
            )
        except ActivityError as exc:
            workflow.logger.warning("connection state not read: %s", exc.cause)
            return ConnectionState(state="unknown")

    def _reopen(self, incoming: IncomingCall) -> None:
        """The customer calls back: the same conversation continues on a new connection."""
        call = self.call
        call.connection_id = None
        call.status = CallStatus.STARTING
        call.direction = "inbound"
        call.recognition_retry = 0
        call.messages.append(
            Message(created_at=workflow.now(), persona=Persona.HUMAN, action=Action.CALL)
        )
        self._hanging_up = False
        self._media_restarts = 0
        # The conversation goes on: how it ends is settled again.
        call.outcome = call.outcome_code = call.outcome_detail = None
        self._never_connected, self._end_event, self._media_gave_up = False, None, False
        del incoming

    # --- events -----------------------------------------------------------------------------

    async def _on_event(self, event: AcsEvent) -> None:
        call = self.call
        if event.connection_id and call.connection_id and event.connection_id != call.connection_id:
            # The API already refuses these; a stale event of an earlier connection of this
            # same call (before a call back) is simply not ours any more.
            workflow.logger.warning(
                "event %s of connection %s ignored", event.type, event.connection_id
            )
            return
        handler = _HANDLERS.get(event.type)
        if handler is None:
            workflow.logger.info("ACS event %s: nothing to do", event.type)
            return
        await handler(self, event)

    async def _on_connected(self, event: AcsEvent) -> None:
        call = self.call
        if call.status is CallStatus.ENDED:
            return
        connection = event.connection_id or call.connection_id
        if connection is not None and connection == self._connected_on:
            # A late CallConnected after its reconciled stand-in (another event id).
            if workflow.patched(patches.CONNECT_RECONCILE):
                return
        self._connected_on = connection
        call.status = CallStatus.IN_PROGRESS
        self._connected_webhook()  # the usage's connected time, and `call.connected`
        call.server_call_id = event.server_call_id or call.server_call_id
        call.connection_id = event.connection_id or call.connection_id
        if self._flags.recording_enabled and call.server_call_id:
            await self._action(
                TelephonyActivities.start_recording,
                RecordingInput(call_id=call.call_id, server_call_id=call.server_call_id),
            )
            call.usage.recording_started(workflow.now())
        if len(call.initiate.lang.availables) > 1:
            await self._language_menu()
        elif self._amd_wanted() and workflow.patched(patches.ANSWERING_MACHINE):
            # The gateway is listening to who answered: the greeting waits for its decision.
            self._amd_state = "pending"
            asyncio.create_task(self._detection_overdue())  # noqa: RUF006
        else:
            await self._greet()
        await self._save()

    # --- answering-machine detection -------------------------------------------------------

    def _amd_wanted(self) -> bool:
        return self.call.wants_machine_detection()

    @workflow.query(name="machine_detection")
    def machine_detection(self) -> MachineDetectionView:
        """Whether a machine is listened for (the gateway reads the same from the state at
        connect, `CallView.machine_detection`, possibly before `CallConnected` is handled)."""
        call = self.call
        return MachineDetectionView(
            wanted=self._amd_wanted(),
            answered_by=call.answered_by,
            machine_action=call.initiate.machine_action,
        )

    @workflow.signal
    def machine_detected(self, detection: MachineDetection) -> None:
        """The gateway's decision (human, machine, unknown), then a machine's beep."""
        self._events.append(
            AcsEvent(
                id=f"machine-detection-{detection.kind}",
                type=MACHINE_DETECTION,
                data=detection.model_dump(),
            )
        )

    async def _detection_overdue(self) -> None:
        """No decision within AMD_WAIT (no gateway detecting, say): greet as for a human."""
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self._amd_state != "pending", timeout=AMD_WAIT)
        if self._amd_state == "pending":
            after_ms = int(AMD_WAIT.total_seconds() * 1000)
            self.machine_detected(
                MachineDetection(kind="unknown", after_ms=after_ms, reason="no decision in time")
            )

    async def _beep_overdue(self) -> None:
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._amd_state != "awaiting_beep", timeout=BEEP_WAIT
            )
        if self._amd_state == "awaiting_beep":
            after_ms = int(BEEP_WAIT.total_seconds() * 1000)
            self.machine_detected(
                MachineDetection(kind="beep", after_ms=after_ms, reason="no beep heard")
            )

    async def _on_machine_detection(self, event: AcsEvent) -> None:
        call = self.call
        detection = MachineDetection.model_validate(event.data)
        if call.status is not CallStatus.IN_PROGRESS or self._hanging_up:
            return
        if detection.kind == "beep":
            if self._amd_state == "awaiting_beep":
                self._amd_state = "done"
                await self._leave_message()
            return
        if self._amd_state != "pending":
            return  # decided already (a late decision after the stand-in, or a second one)
        call.machine_detected_after_ms = detection.after_ms
        if detection.kind != "machine":
            self._amd_state = "done"
            call.answered_by = detection.kind
            await self._greet()
            await self._save()
            return
        call.answered_by = "machine"
        call.end_with(CallOutcome.VOICEMAIL, detail=detection.reason or "answering machine")
        self._ended_by_bot = True
        if call.initiate.machine_action == "hang_up":
            self._amd_state = "done"
            self._hanging_up = True
            await self._hang_up_now()
        else:
            self._amd_state = "awaiting_beep"
            asyncio.create_task(self._beep_overdue())  # noqa: RUF006
        await self._save()

    async def _leave_message(self) -> None:
        """The voicemail message, played by ACS; its PlayCompleted hangs up (as a goodbye)."""
        call = self.call
        text = voicemail_message(call.initiate)
        call.messages.append(
            Message(
                created_at=workflow.now(),
                persona=Persona.ASSISTANT,
                content=text,
                lang_short_code=call.lang.short_code,
            )
        )
        self._hanging_up = True
        await self._play(text, GOODBYE)
        await self._save()

    async def _language_menu(self) -> None:
        call = self.call
        langs = call.initiate.lang.availables
        # An activity's input only: the n-th language is offered with the tone it listens
        # for, in its own words and voice.
        offered = langs[: len(TONES)]
        entries = language_menu_entries(call, [lang.short_code for lang in offered])
        await self._action(
            TelephonyActivities.recognize,
            RecognizeInput(
                call_id=call.call_id,
                connection_id=call.connection_id or "",
                target=call.initiate.phone_number,
                prompt=" ".join(entries),
                voice=call.lang.voice,
                lang=call.lang.short_code,
                custom_voice_endpoint_id=call.lang.custom_voice_endpoint_id,
                prompts=[
                    PromptPart(
                        text=text,
                        voice=lang.voice,
                        lang=lang.short_code,
                        custom_voice_endpoint_id=lang.custom_voice_endpoint_id,
                    )
                    for text, lang in zip(entries, offered, strict=True)
                ],
                choices=[
                    RecognizeChoice(
                        label=lang.short_code, phrases=lang.pronunciations_en, tone=TONES[i]
                    )
                    for i, lang in enumerate(langs[: len(TONES)])
                ],
                operation_context=IVR,
            ),
        )

    async def _on_recognized(self, event: AcsEvent) -> None:
        if event.operation_context == ANSWER:
            await self._on_agent_answer(event)  # the agent's key (warm transfer)
            return
        if event.operation_context != IVR:
            return
        choice = event.data.get("choiceResult")
        label = choice.get("label") if isinstance(choice, dict) else None
        codes = [lang.short_code for lang in self.call.initiate.lang.availables]
        if label not in codes:
            await self._on_recognize_failed(event)
            return
        self.call.lang_short_code = str(label)
        self.call.recognition_retry = 0
        await self._action(TelephonyActivities.start_media, self._media_input())
        await self._greet()
        await self._save()

    async def _on_recognize_failed(self, event: AcsEvent) -> None:
        if event.operation_context == ANSWER:
            await self._on_agent_answer(event)
            return
        if event.operation_context != IVR:
            return
        self.call.recognition_retry += 1
        if self.call.recognition_retry < self._flags.recognition_retry_max:
            await self._language_menu()
        else:
            await self._goodbye()

    async def _greet(self) -> None:
        """The greeting, spoken by the media gateway from the sentence stream."""
        call = self.call
        text = phrase("hello", call)
        call.messages.append(
            Message(
                created_at=workflow.now(),
                persona=Persona.ASSISTANT,
                content=text,
                lang_short_code=call.lang.short_code,
            )
        )
        call.last_interaction_at = workflow.now()
        await self._speak(call.last_turn_id, text, "notice")

    async def _on_play_done(self, event: AcsEvent) -> None:
        context = event.operation_context or ""
        if context in self._stood_in and not event.id.startswith(RECONCILED):
            # The real end of a play whose stand-in already went on: nothing twice.
            self._stood_in = self._stood_in - {context}
            return
        self._plays_done = (*self._plays_done, context)
        if event.type == "PlayFailed":
            workflow.logger.warning(
                "play %s failed: %s %s", event.operation_context, event.result_sub_code,
                event.result_message,
            )  # fmt: skip
        if event.operation_context == GOODBYE:
            await self._hang_up_now()
        elif event.operation_context == TRANSFER:
            await self._transfer_now()

    async def _on_transfer_accepted(self, event: AcsEvent) -> None:
        del event
        self.call.status = CallStatus.TRANSFERRING
        if self.call.handoff is not None:
            self.call.handoff.status = "transferring"
        await self._save()

    async def _on_transfer_failed(self, event: AcsEvent) -> None:
        call = self.call
        call.status = CallStatus.IN_PROGRESS
        if call.handoff is not None:
            call.handoff.status = "failed"
            call.handoff.detail = event.result_message
        await self._play(phrase("calltransfer_failure", call), TRANSFER_FAILED)
        await self._save()

    async def _on_media_started(self, event: AcsEvent) -> None:
        del event
        if workflow.patched(patches.MEDIA_RESTART_BACKOFF):
            self._media_started_at = workflow.now()

    async def _on_media_stopped(self, event: AcsEvent) -> None:
        if workflow.patched(patches.MEDIA_RESTART_BACKOFF):
            await self._restore_media(event)
            return
        call = self.call
        live = call.status is CallStatus.IN_PROGRESS and not self._hanging_up
        if not live or self._media_restarts >= MAX_MEDIA_RESTARTS:
            return
        # The gateway went away (crash, redeploy): ask ACS to stream to a healthy one.
        self._media_restarts += 1
        workflow.logger.warning("media stopped (%s); restarting", event.type)
        await self._action(TelephonyActivities.start_media, self._media_input())

    async def _restore_media(self, event: AcsEvent) -> None:
        """Ask ACS to stream to a healthy gateway, backing off; give up after the last delay."""
        started, self._media_started_at = self._media_started_at, None
        if started is not None and workflow.now() - started >= MEDIA_STABLE:
            self._media_restarts = 0
        while self._media_wanted():
            if self._media_restarts >= len(MEDIA_RESTART_DELAYS):
                await self._media_lost()
                return
            delay = MEDIA_RESTART_DELAYS[self._media_restarts]
            self._media_restarts += 1
            workflow.logger.warning(
                "media stopped (%s); restart %d in %ss",
                event.type, self._media_restarts, delay.total_seconds(),
            )  # fmt: skip
            if delay:
                # A durable timer, cut short when the caller hangs up meanwhile.
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(self._hang_up_pending, timeout=delay)
                if self._hang_up_pending():
                    return
            try:
                await self._action(TelephonyActivities.start_media, self._media_input())
                return  # ACS reports MediaStreamingStarted, or stopped/failed again
            except ActivityError as exc:
                workflow.logger.warning("media not restarted: %s", exc.cause)

    def _media_wanted(self) -> bool:
        return self.call.status is CallStatus.IN_PROGRESS and not self._hanging_up

    def _hang_up_pending(self) -> bool:
        return not self._media_wanted() or any(e.type == "CallDisconnected" for e in self._events)

    async def _media_lost(self) -> None:
        """No gateway takes the stream: tell the caller through ACS, then hang up (the call
        may still be resumed by a call back)."""
        call = self.call
        text = phrase(MEDIA_LOST, call)
        workflow.logger.error("media could not be restored: ending the call")
        call.messages.append(
            Message(
                created_at=workflow.now(),
                persona=Persona.ASSISTANT,
                content=text,
                lang_short_code=call.lang.short_code,
            )
        )
        self._hanging_up = True
        self._media_gave_up = True
        try:
            await self._play(text, GOODBYE)  # its PlayCompleted / PlayFailed hangs up
        except ActivityError as exc:
            workflow.logger.warning("media-lost notice not played: %s", exc.cause)
            await self._end_without_line()
        await self._save()

    async def _end_without_line(self) -> None:
        """Hang up now; when even that fails the line is gone: the call is ended here."""
        try:
            await self._hang_up_now()
        except ActivityError as exc:
            workflow.logger.warning("hang-up failed: %s", exc.cause)
            self.call.status = CallStatus.ENDED
            self.call.messages.append(
                Message(created_at=workflow.now(), persona=Persona.HUMAN, action=Action.HANGUP)
            )

    async def _on_create_failed(self, event: AcsEvent) -> None:
        """The callee never answered: busy, declined, no answer, or the call failed."""
        if workflow.patched(patches.CALL_OUTCOME):
            self.call.end_with(
                outcome_of_failure(event.result_code, event.result_sub_code),
                code=result_code(event.result_code, event.result_sub_code),
                detail=event.result_message,
            )

    async def _on_disconnected(self, event: AcsEvent) -> None:
        call = self.call
        if call.status is CallStatus.ENDED:
            return
        call.usage.line_disconnected(workflow.now())
        self._never_connected = call.status is CallStatus.STARTING
        self._end_event = event
        call.status = CallStatus.ENDED
        call.messages.append(
            Message(created_at=workflow.now(), persona=Persona.HUMAN, action=Action.HANGUP)
        )
        await self._save()

    async def _on_silence(self) -> None:
        """Prompt a silent caller; after `recognition_retry_max` prompts, say goodbye."""
        call = self.call
        if call.status is not CallStatus.IN_PROGRESS or self._hanging_up:
            return
        await self._refresh_flags()
        call.recognition_retry += 1
        if call.recognition_retry > self._flags.recognition_retry_max:
            await self._goodbye()
        else:
            await self._speak(call.last_turn_id, phrase("timeout_silence", call), "notice")
        await self._save()

    # --- actions used by the tools --------------------------------------------------------------

    async def _goodbye(self) -> None:
        """Say goodbye; the hang-up follows when the goodbye finished playing."""
        self._hanging_up = True
        await self._play(phrase("goodbye", self.call), GOODBYE)

    async def _request_transfer(self) -> None:
        call = self.call
        call.handoff = Handoff(
            requested_at=workflow.now(), target=call.initiate.agent_phone_number, status="requested"
        )
        call.status = CallStatus.TRANSFERRING
        # Warm: the caller is asked to hold while the agent is briefed.
        notice = "connect_agent" if self._warm_wanted() else "end_call_to_connect_agent"
        await self._play(phrase(notice, call), TRANSFER)

    def _warm_wanted(self) -> bool:
        return self.call.initiate.transfer_mode == "warm" and workflow.patched(
            patches.WARM_TRANSFER
        )

    async def _transfer_now(self) -> None:
        call = self.call
        if self._warm_wanted():
            await self._warm_transfer()
            return
        result = await self._activity(
            TelephonyActivities.transfer_call,
            TransferInput(
                call_id=call.call_id,
                connection_id=call.connection_id,
                target=call.initiate.agent_phone_number,
            ),
        )
        if result.status == "failed":
            await self._on_transfer_failed(
                AcsEvent(id="transfer", type="CallTransferFailed", result_message=result.detail)
            )

    async def _hang_up_now(self) -> None:
        connection_id = self.call.connection_id
        await self._action(
            TelephonyActivities.hang_up,
            HangUpInput(call_id=self.call.call_id, connection_id=connection_id),
        )
        if connection_id is not None and workflow.patched(patches.CALLBACK_OVERDUE):
            asyncio.create_task(self._reconcile_hang_up(connection_id))  # noqa: RUF006

    async def _play(self, text: str, context: str) -> None:
        call = self.call
        await self._action(
            TelephonyActivities.play,
            PlayInput(
                call_id=call.call_id,
                connection_id=call.connection_id or "",
                text=text,
                voice=call.lang.voice,
                lang=call.lang.short_code,
                operation_context=context,
                custom_voice_endpoint_id=call.lang.custom_voice_endpoint_id,
            ),
        )
        self._follow_play(context, text)

    # --- the outcome ---------------------------------------------------------------------------

    async def _save(self) -> None:
        if self.call.status is CallStatus.ENDED and self.call.outcome is None:
            if workflow.patched(patches.CALL_OUTCOME):
                self._settle_outcome()
        await super()._save()

    def _settle_outcome(self) -> None:
        """How the ended call ended, when no event said it already (busy, voicemail, ...)."""
        call = self.call
        spoke = call.had_interaction()
        if call.channel == "chat":
            if self._ended_by_bot:
                call.end_with(CallOutcome.COMPLETED)
            else:  # closed after the idle window: the customer left, or never wrote
                outcome = CallOutcome.CALLER_HUNG_UP if spoke else CallOutcome.ABANDONED
                call.end_with(outcome, detail="no message in the idle window")
            return
        end = self._end_event
        if call.handoff is not None and call.handoff.status == "transferring":
            call.end_with(CallOutcome.TRANSFERRED)
        elif call.handoff is not None and call.handoff.status == "failed":
            call.end_with(CallOutcome.TRANSFER_FAILED, detail=call.handoff.detail)
        elif self._media_gave_up:
            call.end_with(CallOutcome.FAILED, detail="the media stream could not be restored")
        elif self._never_connected:
            code = end.result_code if end is not None else None
            sub_code = end.result_sub_code if end is not None else None
            failed = code is not None and code >= 300
            call.end_with(
                outcome_of_failure(code, sub_code) if failed else CallOutcome.NO_ANSWER,
                code=result_code(code, sub_code) if failed else None,
                detail=end.result_message if end is not None else None,
            )
        elif self._ended_by_bot or self._hanging_up:
            call.end_with(CallOutcome.COMPLETED if spoke else CallOutcome.ABANDONED)
        else:  # the callee hung up; before saying anything: abandoned
            call.end_with(CallOutcome.CALLER_HUNG_UP if spoke else CallOutcome.ABANDONED)

    def _show_progress(self) -> None:
        super()._show_progress()
        outcome = self.call.outcome
        if (
            outcome is not None
            and self.call.status is CallStatus.ENDED
            and outcome.value != self._outcome_shown
            and workflow.patched(patches.CALL_OUTCOME)
        ):
            workflow.upsert_search_attributes([attributes.OUTCOME.value_set(outcome.value)])
            self._outcome_shown = outcome.value

    def _media_input(self) -> MediaInput:
        call = self.call
        return MediaInput(call_id=call.call_id, connection_id=call.connection_id or "")


_Handler = Callable[[PhoneCall, AcsEvent], Awaitable[None]]

_HANDLERS: dict[str, _Handler] = {
    "CallConnected": PhoneCall._on_connected,
    "RecognizeCompleted": PhoneCall._on_recognized,
    "RecognizeFailed": PhoneCall._on_recognize_failed,
    "PlayCompleted": PhoneCall._on_play_done,
    "PlayFailed": PhoneCall._on_play_done,
    "CallTransferAccepted": PhoneCall._on_transfer_accepted,
    "CallTransferFailed": PhoneCall._on_transfer_failed,
    "AddParticipantSucceeded": PhoneCall._on_agent_added,
    "AddParticipantFailed": PhoneCall._on_agent_not_added,
    WARM_OVERDUE: PhoneCall._on_warm_overdue,
    PARTICIPANTS_UPDATED: PhoneCall._on_participants_updated,
    "MediaStreamingStarted": PhoneCall._on_media_started,
    "MediaStreamingStopped": PhoneCall._on_media_stopped,
    "MediaStreamingFailed": PhoneCall._on_media_stopped,
    "CallDisconnected": PhoneCall._on_disconnected,
    "CreateCallFailed": PhoneCall._on_create_failed,
    MACHINE_DETECTION: PhoneCall._on_machine_detection,
}

# The ACS events the API signals (the detector's decision comes by its own signal).
# ParticipantsUpdated only when the caller left (`caller_left`): the API checks that itself.
HANDLED_EVENTS = frozenset(_HANDLERS) - {MACHINE_DETECTION, WARM_OVERDUE, PARTICIPANTS_UPDATED}
