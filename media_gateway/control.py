"""The call's workflow as the session sees it: read the state, send turns and barge-ins.

The session takes this interface, so tests record calls instead of running Temporal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from domain import attributes
from domain.call import CallState, CallStatus
from domain.contracts import BargeIn, TurnReply, UserTurn
from workflows.call import CallWorkflow


@dataclass(frozen=True)
class CallView:
    """What the gateway needs to know of the call at connect."""

    last_turn_id: int
    lang: str
    ended: bool = False


def view_of(call: CallState) -> CallView:
    return CallView(
        last_turn_id=call.last_turn_id,
        lang=call.lang.short_code,
        ended=call.status is CallStatus.ENDED,
    )


class StaleTurnError(Exception):
    """The workflow already applied a turn with this id (it moved on without the gateway)."""


class CallControl(Protocol):
    async def view(self) -> CallView: ...

    async def user_turn(self, turn: UserTurn) -> TurnReply | None:
        """Send the turn and wait until the workflow has answered it; may raise StaleTurnError.

        The reply tells the tools the bot used (a new language, say); None when unknown.
        """
        ...

    async def barge_in(self, event: BargeIn) -> None: ...

    async def caller_silent(self) -> None:
        """The caller said nothing for `phone_silence_timeout_sec` while the bot was quiet."""
        ...


class TemporalCallControl:
    """`CallControl` over the Temporal client: query `state`, update `user_turn`, signal."""

    def __init__(self, client: Client, call_id: str) -> None:
        self._handle = client.get_workflow_handle_for(
            CallWorkflow.run, attributes.workflow_id_for(call_id)
        )

    async def view(self) -> CallView:
        return view_of(await self._handle.query(CallWorkflow.get_state))

    async def user_turn(self, turn: UserTurn) -> TurnReply | None:
        try:
            return await self._handle.execute_update(CallWorkflow.user_turn, turn)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type == "StaleTurn":
                raise StaleTurnError(str(cause)) from exc
            raise

    async def barge_in(self, event: BargeIn) -> None:
        await self._handle.signal(CallWorkflow.barge_in, event)

    async def caller_silent(self) -> None:
        await self._handle.signal(CallWorkflow.caller_silent)
