"""The call's workflow as the session sees it: read the state, send turns and barge-ins.

The session takes this interface, so tests record calls instead of running Temporal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

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
    # The call's own phrases and names: the gateway's hold and repeat phrases follow them.
    phrases: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    bot_name: str = ""
    bot_company: str = ""
    machine_detection: bool = False  # listen for an answering machine (`amd.py`)


def view_of(call: CallState) -> CallView:
    return CallView(
        last_turn_id=call.last_turn_id,
        lang=call.lang.short_code,
        ended=call.status is CallStatus.ENDED,
        phrases=call.initiate.phrases,
        bot_name=call.initiate.bot_name,
        bot_company=call.initiate.bot_company,
        machine_detection=call.wants_machine_detection(),
    )


class StaleTurnError(Exception):
    """The workflow already applied a turn with this id (it moved on without the gateway)."""


class TurnRefusedError(Exception):
    """The workflow answered the turn with a failure (an ended call, an invalid turn) or is
    gone: sending it again cannot help. Any other error may be resent."""


def update_id(turn: UserTurn) -> str:
    """The turn's update id: a resend of the same turn returns the first outcome. The channel
    is part of it: a chat turn that took the same number must not answer for a spoken one
    (that one is stale and renumbered instead)."""
    return f"turn-{turn.turn_id}-{turn.channel}"


class CallControl(Protocol):
    async def view(self) -> CallView: ...

    async def user_turn(
        self, turn: UserTurn, accepted: Callable[[], None] | None = None
    ) -> TurnReply | None:
        """Send the turn and wait until the workflow has answered it; `accepted` is called once
        the workflow took it. May raise StaleTurnError or TurnRefusedError; any other error
        leaves the outcome unknown: the same turn may be sent again.

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

    async def user_turn(
        self, turn: UserTurn, accepted: Callable[[], None] | None = None
    ) -> TurnReply | None:
        try:
            update = await self._handle.start_update(
                CallWorkflow.user_turn,
                turn,
                id=update_id(turn),
                wait_for_stage=WorkflowUpdateStage.ACCEPTED,
            )
            if accepted is not None:
                accepted()
            return await update.result()
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type == "StaleTurn":
                raise StaleTurnError(str(cause)) from exc
            raise TurnRefusedError(str(cause or exc)) from exc
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:  # no such call (any more)
                raise TurnRefusedError(str(exc)) from exc
            raise

    async def barge_in(self, event: BargeIn) -> None:
        await self._handle.signal(CallWorkflow.barge_in, event)

    async def caller_silent(self) -> None:
        await self._handle.signal(CallWorkflow.caller_silent)
