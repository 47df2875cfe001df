"""The warm transfer of `CallWorkflow` (patch `warm-transfer`, `transfer_mode` "warm"): the
caller holds while the agent is rung into the call, hears a briefing of the claim so far and
presses 1 to take the call; then the caller is taken off hold and the bot leaves, the two
people talk on (outcome `transferred`). A decline (any other key), a hang-up, no answer, or no
event in time brings the caller back to the bot: the agent is released, the caller hears an
apology, and a reminder for a human call back is created (outcome `transfer_failed` if the call
then ends so). Mixed into the workflow class; everything here runs inside the workflow.

The sequence is ACS's own (`../shared/reference/operations.md`, warm transfer): `hold`,
`add_participant` then `AddParticipantSucceeded`/`Failed`, `play_media(play_to=[agent])`,
`start_recognizing_media` on the agent, then `unhold` and `hang_up(is_for_everyone=False)`, or
`remove_participant` / `cancel_add_participant` and `unhold`. Each step is an activity; the
events arrive as the call's other ACS events do, handled one at a time by the main loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.reminders import ReminderActivities
    from activities.telephony import TelephonyActivities
    from domain.briefing import accept_prompt, briefing, call_back_reminder, transfer_apology
    from domain.call import CallState, CallStatus, Message, Persona
    from domain.contracts import AcsEvent, ReminderInput, ScheduleReminderInput
    from domain.transfer import (
        AGENT_ANSWER_SEC,
        AGENT_RING_SEC,
        AddAgentInput,
        BriefAgentInput,
        FinishTransferInput,
    )
    from workflows.call_webhooks import CallWebhooks

# Operation contexts of the warm transfer's requests, so its events find their step.
WARM = "warm_transfer"
BRIEFING = "transfer_briefing"
ANSWER = "transfer_answer"
WARM_OVERDUE = "WarmTransferOverdue"  # type of the internal event the overdue timer queues
TRANSFER_FAILED_CONTEXT = "transfer_failed"  # the apology's play (as a cold transfer's)
# No event settled the transfer after the agent's ring, the briefing and their answer time,
# plus this: the caller is brought back (a lost callback must not leave them on hold).
WARM_MARGIN = timedelta(seconds=20)
BRIEFING_CHARS_PER_S = 10
WarmPhase = Literal["off", "ringing", "briefing", "connecting"]
PARTICIPANTS_UPDATED = "ParticipantsUpdated"


def caller_left(call: CallState, event: AcsEvent) -> bool:
    """A `ParticipantsUpdated` without the caller: they hung up while someone the bot added
    (a warm transfer's agent) stays on, so the call goes on without them. Only these are
    signalled to the workflow: every call's own updates would cost a signal each."""
    if event.type != PARTICIPANTS_UPDATED or call.channel != "phone":
        return False
    items = event.data.get("participants")
    if not isinstance(items, list):
        return False
    raw_ids = {
        item["identifier"].get("rawId")
        for item in items
        if isinstance(item, dict) and isinstance(item.get("identifier"), dict)
    }
    return f"4:{call.initiate.phone_number}" not in raw_ids


class WarmTransfer(CallWebhooks):
    """Warm-transfer behaviour of `CallWorkflow`."""

    _events: list[AcsEvent]
    _warm_phase: WarmPhase = "off"
    _warm_attempt: int = 0
    _warm_invitation: str | None = None
    _warm_joined: bool = False
    _hanging_up: bool = False

    # Provided by `PhoneCall` (declared for the type checker only: no body to fall back on).
    _play: Callable[[str, str], Coroutine[Any, Any, None]]
    _reconcile_hang_up: Callable[[str], Coroutine[Any, Any, None]]
    _hang_up_now: Callable[[], Coroutine[Any, Any, None]]

    # --- the steps ------------------------------------------------------------------------------

    async def _warm_transfer(self) -> None:
        """After the hold phrase: hold the caller and ring the agent."""
        call = self.call
        if self._warm_phase != "off":
            return  # a transfer is already under way (the model asked twice)
        self._warm_attempt += 1
        self._warm_phase, self._warm_invitation, self._warm_joined = "ringing", None, False
        try:
            result = await self._activity(
                TelephonyActivities.add_agent,
                AddAgentInput(
                    call_id=call.call_id,
                    connection_id=call.connection_id or "",
                    customer=call.initiate.phone_number,
                    agent=call.initiate.agent_phone_number,
                    ring_timeout_sec=AGENT_RING_SEC,
                    operation_context=WARM,
                ),
            )
        except ActivityError as exc:
            workflow.logger.warning("agent not rung: %s", exc.cause)
            await self._warm_failed("the agent could not be called")
            return
        self._warm_invitation = result.invitation_id
        asyncio.create_task(self._warm_overdue(self._warm_attempt))  # noqa: RUF006
        await self._save()

    async def _on_agent_added(self, event: AcsEvent) -> None:
        """The agent picked up: brief them (to them alone) and ask for their key."""
        if event.operation_context != WARM or self._warm_phase != "ringing":
            return
        call = self.call
        self._warm_phase, self._warm_joined = "briefing", True
        try:
            await self._action(
                TelephonyActivities.brief_agent,
                BriefAgentInput(
                    call_id=call.call_id,
                    connection_id=call.connection_id or "",
                    agent=call.initiate.agent_phone_number,
                    briefing=briefing(call),
                    prompt=accept_prompt(call),
                    voice=call.lang.voice,
                    lang=call.lang.short_code,
                    custom_voice_endpoint_id=call.lang.custom_voice_endpoint_id,
                    answer_timeout_sec=AGENT_ANSWER_SEC,
                    briefing_context=BRIEFING,
                    answer_context=ANSWER,
                ),
            )
        except ActivityError as exc:
            workflow.logger.warning("agent not briefed: %s", exc.cause)
            await self._warm_failed("the briefing could not be played")

    async def _on_agent_not_added(self, event: AcsEvent) -> None:
        """The agent's phone did not pick up (no answer, busy, declined the ring)."""
        if event.operation_context != WARM or self._warm_phase != "ringing":
            return
        why = event.result_message or "the agent did not answer"
        self._warm_invitation = None  # settled: nothing to withdraw
        await self._warm_failed(f"{why} ({event.result_code}/{event.result_sub_code})")

    async def _on_agent_answer(self, event: AcsEvent) -> None:
        """The agent's key (RecognizeCompleted), or none (RecognizeFailed: silence, hung up)."""
        if self._warm_phase != "briefing":
            return
        dtmf = event.data.get("dtmfResult")
        tones = dtmf.get("tones") if isinstance(dtmf, dict) else None
        if event.type == "RecognizeCompleted" and isinstance(tones, list) and tones[:1] == ["one"]:
            await self._warm_connect()
        elif event.type == "RecognizeCompleted":
            await self._warm_failed("the agent declined")
        else:
            await self._warm_failed(f"no answer from the agent: {event.result_message or ''}")

    async def _warm_connect(self) -> None:
        """The agent accepted: caller off hold, the bot leaves; CallDisconnected ends the call
        as `transferred`."""
        call = self.call
        self._warm_phase = "connecting"
        try:
            await self._action(TelephonyActivities.finish_transfer, self._finish(connect=True))
        except ActivityError as exc:
            workflow.logger.warning("caller and agent not connected: %s", exc.cause)
            await self._warm_failed("the caller and the agent could not be connected")
            return
        if call.handoff is not None:
            call.handoff.status = "transferring"
        connection = call.connection_id
        if connection is not None:
            # A lost CallDisconnected after the bot left: asked of ACS, then ended here.
            asyncio.create_task(self._reconcile_hang_up(connection))  # noqa: RUF006
        await self._save()

    async def _warm_failed(self, why: str) -> None:
        """Release the agent, bring the caller back with an apology, promise a call back."""
        if self._warm_phase == "off":
            return
        call = self.call
        self._warm_phase = "off"
        workflow.logger.info("warm transfer not taken: %s", why)
        if call.status is not CallStatus.ENDED:
            try:
                await self._action(TelephonyActivities.finish_transfer, self._finish(connect=False))
            except ActivityError as exc:
                workflow.logger.warning("agent not released: %s", exc.cause)
        if call.handoff is not None:
            call.handoff.status = "failed"
            call.handoff.detail = why[:200]
        await self._schedule_call_back(why)
        if call.status is not CallStatus.ENDED:
            call.status = CallStatus.IN_PROGRESS
            text = transfer_apology(call)
            call.messages.append(
                Message(
                    created_at=workflow.now(),
                    persona=Persona.ASSISTANT,
                    content=text,
                    lang_short_code=call.lang.short_code,
                )
            )
            try:
                await self._play(text, TRANSFER_FAILED_CONTEXT)
            except ActivityError as exc:
                workflow.logger.warning("transfer apology not played: %s", exc.cause)
        await self._save()

    async def _schedule_call_back(self, why: str) -> None:
        """The reminder a human agent acts on (the call's reminder path: `ReminderWorkflow`)."""
        call = self.call
        reminder = call_back_reminder(call, workflow.now(), why)
        known = next((r for r in call.reminders if r.title == reminder.title), None)
        if known is not None:  # a second failed transfer: the same reminder, due again
            known.description, known.due_date_time = reminder.description, reminder.due_date_time
            known.updated_at, known.status, known.attempts = workflow.now(), "scheduled", 0
            reminder = known
        else:
            call.reminders.append(reminder)
        try:
            await self._activity(
                ReminderActivities.schedule_reminder,
                ScheduleReminderInput(
                    reminder=ReminderInput(
                        call_id=call.call_id,
                        reminder=reminder,
                        initiate=call.initiate,
                        claim=dict(call.claim),
                    )
                ),
            )
        except ActivityError as exc:
            workflow.logger.warning("call-back reminder not scheduled: %s", exc.cause)
            return
        self._reminder_webhook(reminder)

    def _finish(self, *, connect: bool) -> FinishTransferInput:
        call = self.call
        return FinishTransferInput(
            call_id=call.call_id,
            connection_id=call.connection_id or "",
            customer=call.initiate.phone_number,
            agent=call.initiate.agent_phone_number,
            connect=connect,
            invitation_id=self._warm_invitation,
            agent_joined=self._warm_joined,
            operation_context=WARM,
        )

    # --- a lost event ---------------------------------------------------------------------------

    async def _warm_overdue(self, attempt: int) -> None:
        """No event settled this attempt in time: bring the caller back (queued as an event,
        so it is handled in turn with the real ones)."""
        briefing_s = len(briefing(self.call)) / BRIEFING_CHARS_PER_S
        overdue = timedelta(seconds=AGENT_RING_SEC + AGENT_ANSWER_SEC + briefing_s) + WARM_MARGIN

        def settled() -> bool:
            return (
                self._warm_attempt != attempt
                or self._warm_phase in ("off", "connecting")
                or self.call.status is CallStatus.ENDED
            )

        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(settled, timeout=overdue)
        if not settled():
            self._events.append(AcsEvent(id=f"warm-transfer-overdue-{attempt}", type=WARM_OVERDUE))

    async def _on_participants_updated(self, event: AcsEvent) -> None:
        """The caller hung up while on hold (the agent stays on the call): end the call for
        everyone, and promise the call back."""
        if self._warm_phase not in ("ringing", "briefing") or not caller_left(self.call, event):
            return
        call = self.call
        self._warm_phase = "off"
        workflow.logger.info("warm transfer: the caller hung up while on hold")
        if call.handoff is not None:
            call.handoff.status = "failed"
            call.handoff.detail = "the caller hung up while on hold"
        await self._schedule_call_back("the caller hung up while on hold")
        self._hanging_up = True
        try:
            await self._hang_up_now()  # terminates the call: the agent is released with it
        except ActivityError as exc:
            workflow.logger.warning("hang-up failed: %s", exc.cause)
        await self._save()

    async def _on_warm_overdue(self, event: AcsEvent) -> None:
        current = event.id == f"warm-transfer-overdue-{self._warm_attempt}"
        if current and self._warm_phase in ("ringing", "briefing"):
            await self._warm_failed("no answer from the agent in time")
