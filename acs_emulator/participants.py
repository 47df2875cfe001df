"""Participants the bot adds to a call (`participants:add`), removes, and holds.

What a warm transfer needs: the caller held (`:hold`, `:unhold`), the agent rung into the call
(`AddParticipantSucceeded` / `AddParticipantFailed` after the invitation timeout), an agent who
presses keys when a recognize aimed at them listens or hangs up on their own (their phone's
`keys` and `hang_up_after_ms`), and removed again (`RemoveParticipantSucceeded`).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from acs_emulator import results
from acs_emulator.errors import AcsError, bad_request
from acs_emulator.ids import identifier_for, phone_identifier, user_identifier
from acs_emulator.mediaops import source_records
from acs_emulator.models import (
    CallRecord,
    HoldRecord,
    ParticipantRecord,
    ParticipantState,
    ResultInfo,
)
from acs_emulator.phones import FAILURES, RingOutcome
from acs_emulator.schemas import (
    AddParticipant,
    CancelAddParticipant,
    Hold,
    RemoveParticipant,
    Unhold,
)

if TYPE_CHECKING:
    from acs_emulator.calls import Call

# ACS's documented default invitation timeout (`invitationTimeoutInSeconds`, at most 180).
DEFAULT_INVITATION_S = 60.0
# A scripted phone presses its keys this long after a recognize aimed at it starts listening.
PRESS_DELAY_S = 0.05


def _now() -> datetime:
    return datetime.now(UTC)


class Participants:
    """The added participants of one call, and who is on hold."""

    def __init__(self, call: Call) -> None:
        self._call = call
        self._ringing: dict[str, asyncio.Task[Any]] = {}  # invitation id -> its ring
        self._urls: dict[str, str | None] = {}  # raw id -> operationCallbackUri of its add

    @property
    def _record(self) -> CallRecord:
        return self._call.record

    def phone_raw_id(self) -> str:
        return f"4:{self._record.phone_number}"

    def joined(self, raw_id: str) -> ParticipantRecord | None:
        for added in self._record.added:
            if added.raw_id == raw_id and added.state == "joined":
                return added
        return None

    def in_call(self, raw_id: str) -> bool:
        if raw_id == self.phone_raw_id():
            return self._record.phone_left_at is None
        return self.joined(raw_id) is not None

    def phone_leaves(self) -> bool:
        """The call's phone hangs up: with an added participant still on (a group call), the
        call goes on for the bot and them (ParticipantsUpdated); False: no one else is on."""
        if not any(a.state == "joined" for a in self._record.added):
            return False
        self._record.phone_left_at = _now()
        self._record.on_hold = [r for r in self._record.on_hold if r != self.phone_raw_id()]
        self._call.ops.fail_target(self.phone_raw_id())
        self._call.participants_updated()
        return True

    def json(self) -> list[dict[str, Any]]:
        """CallParticipant items: the phone, the bot, then the joined added phones."""
        held = set(self._record.on_hold)
        items = [
            (phone_identifier(self._record.phone_number), self.phone_raw_id()),
            (user_identifier(self._call.services.bot_raw_id), self._call.services.bot_raw_id),
        ]
        if self._record.phone_left_at is not None:
            items = items[1:]
        items += [
            (phone_identifier(a.number), a.raw_id)
            for a in self._record.added
            if a.state == "joined"
        ]
        return [
            {"identifier": identifier, "isMuted": False, "isOnHold": raw in held}
            for identifier, raw in items
        ]

    # --- add ------------------------------------------------------------------------------------

    def add(self, request: AddParticipant) -> ParticipantRecord:
        number = request.participant_to_add.phone()
        if number is None:
            raise AcsError(405, "8520", "Functionality not supported: only PSTN participants.")
        source = request.source_caller_id_number
        if source is None:
            raise bad_request("sourceCallerIdNumber is required to add a phone number.")
        if source.value != self._call.services.config.bot_number:
            raise AcsError(
                403, "7507", f"Call source identity invalid: {source.value} is not this resource's."
            )
        raw_id = f"4:{number}"
        if raw_id == self.phone_raw_id() or any(
            a.raw_id == raw_id and a.state in ("ringing", "joined") for a in self._record.added
        ):
            raise AcsError(400, "8523", f"Invalid request. {number} is already in the call.")
        record = ParticipantRecord(
            raw_id=raw_id,
            number=number,
            invitation_id=str(uuid.uuid4()),
            operation_context=request.operation_context,
            invited_at=_now(),
        )
        self._record.added.append(record)
        self._urls[raw_id] = request.operation_callback_uri
        timeout_s = request.invitation_timeout_in_seconds
        limit = (DEFAULT_INVITATION_S if timeout_s is None else timeout_s) * (
            self._call.timings.time_scale
        )
        self._ringing[record.invitation_id] = self._call.spawn(self._ring(record, limit))
        self._call.touch()
        return record

    async def _ring(self, record: ParticipantRecord, limit_s: float) -> None:
        outcome: RingOutcome
        try:
            outcome = await asyncio.wait_for(
                self._call.services.phones.ring(record.number), limit_s
            )
        except TimeoutError:
            outcome = "no-answer"
        self._ringing.pop(record.invitation_id, None)
        if self._call.ended or record.state != "ringing":
            return
        url = self._urls.get(record.raw_id)
        if outcome != "answered":
            self._end(record, "failed", FAILURES[outcome])
            self._call.emit(
                "AddParticipantFailed",
                {"participant": identifier_for(record.raw_id)},
                operation_context=record.operation_context,
                result=FAILURES[outcome],
                url=url,
            )
            return
        record.state = "joined"
        record.joined_at = _now()
        self._call.emit(
            "AddParticipantSucceeded",
            {"participant": identifier_for(record.raw_id)},
            operation_context=record.operation_context,
            result=results.ADD_PARTICIPANT_OK,
            url=url,
        )
        self._call.participants_updated()
        phone = self._call.services.phones.get(record.number)
        if phone.hang_up_after_ms is not None:
            self._call.spawn(self._hang_up_later(record, phone.hang_up_after_ms / 1000))

    async def _hang_up_later(self, record: ParticipantRecord, after_s: float) -> None:
        await asyncio.sleep(after_s)
        if not self._call.ended and record.state == "joined":
            self.hang_up(record.raw_id)

    def cancel(self, request: CancelAddParticipant) -> None:
        """Withdraw an invitation still ringing; a settled one gets CancelAddParticipantFailed."""
        record = next(
            (a for a in self._record.added if a.invitation_id == request.invitation_id), None
        )
        if record is None:
            raise AcsError(404, "8522", f"Invitation not found: {request.invitation_id}.")
        fields = {"invitationId": request.invitation_id}
        task = self._ringing.pop(request.invitation_id, None)
        if record.state != "ringing" or task is None:
            self._call.emit(
                "CancelAddParticipantFailed",
                fields,
                operation_context=request.operation_context,
                result=results.CANCELED,
                url=request.operation_callback_uri,
            )
            return
        task.cancel()
        self._end(record, "canceled", results.CANCEL_ADD_OK)
        self._call.emit(
            "CancelAddParticipantSucceeded",
            fields,
            operation_context=request.operation_context,
            result=results.CANCEL_ADD_OK,
            url=request.operation_callback_uri,
        )

    # --- leaving --------------------------------------------------------------------------------

    def remove(self, request: RemoveParticipant) -> None:
        raw_id = request.participant_to_remove.key()
        record = self.joined(raw_id)
        if record is None:
            raise AcsError(404, "8522", f"Participant not found: {raw_id}.")
        self._leave(record, "removed", results.REMOVE_PARTICIPANT_OK)
        self._call.emit(
            "RemoveParticipantSucceeded",
            {"participant": identifier_for(raw_id)},
            operation_context=request.operation_context,
            result=results.REMOVE_PARTICIPANT_OK,
            url=request.operation_callback_uri,
        )

    def hang_up(self, raw_id: str) -> ParticipantRecord:
        """The added phone hangs up: the others stay in the call."""
        record = self.joined(raw_id)
        if record is None:
            raise KeyError(raw_id)
        self._leave(record, "left", results.PHONE_HUNG_UP)
        return record

    def _leave(
        self, record: ParticipantRecord, state: ParticipantState, result: ResultInfo
    ) -> None:
        self._end(record, state, result)
        self._record.on_hold = [r for r in self._record.on_hold if r != record.raw_id]
        self._call.ops.fail_target(record.raw_id)
        self._call.participants_updated()

    def _end(self, record: ParticipantRecord, state: ParticipantState, result: ResultInfo) -> None:
        record.state = state
        record.ended_at = _now()
        record.result_information = result
        self._call.touch()

    def call_ended(self) -> None:
        for task in self._ringing.values():
            task.cancel()
        self._ringing.clear()
        for record in self._record.added:
            if record.state == "ringing":
                self._end(record, "canceled", results.CANCELED)
            elif record.state == "joined" and not self._record.continued_between:
                self._end(record, "left", results.PHONE_HUNG_UP)  # the call ended for all

    # --- hold -----------------------------------------------------------------------------------

    def hold(self, request: Hold) -> None:
        raw_id = self._present(request.target_participant.key())
        music = [request.play_source_info] if request.play_source_info else []
        self._record.holds.append(
            HoldRecord(
                target=raw_id,
                action="hold",
                at=_now(),
                music=source_records(music),
                operation_context=request.operation_context,
            )
        )
        if raw_id not in self._record.on_hold:
            self._record.on_hold = [*self._record.on_hold, raw_id]
        self._call.touch()

    def unhold(self, request: Unhold) -> None:
        raw_id = self._present(request.target_participant.key())
        self._record.holds.append(
            HoldRecord(
                target=raw_id,
                action="unhold",
                at=_now(),
                operation_context=request.operation_context,
            )
        )
        self._record.on_hold = [r for r in self._record.on_hold if r != raw_id]
        self._call.touch()

    def _present(self, raw_id: str) -> str:
        if not self.in_call(raw_id):
            raise AcsError(404, "8522", f"Participant not found: {raw_id}.")
        return raw_id

    # --- what they hear and press -----------------------------------------------------------

    def heard(self, targets: list[str], texts: list[str]) -> None:
        """A play (or prompt) reached these participants (`[]`: everyone not on hold)."""
        held = set(self._record.on_hold)
        for record in self._record.added:
            if record.state != "joined":
                continue
            if (targets and record.raw_id in targets) or (
                not targets and record.raw_id not in held
            ):
                record.heard.extend(texts)
        self._call.touch()

    def listening(self, target: str) -> None:
        """A recognize aimed at `target` listens: a scripted phone presses its keys."""
        record = self.joined(target)
        if record is None:
            return
        keys = self._call.services.phones.get(record.number).keys
        if keys:
            self._call.spawn(self._press_later(record.raw_id, keys))

    async def _press_later(self, raw_id: str, keys: str) -> None:
        await asyncio.sleep(PRESS_DELAY_S)
        if not self._call.ended and self.joined(raw_id) is not None:
            self.press(raw_id, keys)

    def press(self, raw_id: str, tones: str) -> None:
        record = self.joined(raw_id)
        if record is None:
            raise KeyError(raw_id)
        self._call.press(tones, source=raw_id)
        record.dtmf_pressed.extend(tones.upper())
