"""Turn sending: a caller's turn goes to the workflow (update `user_turn`) until it is taken.

A turn is resent with the same id (its update id is derived from it) until the workflow takes
it, backing off, with a hold phrase if that takes long; a stale id is renumbered once. Turns
sent and not yet taken count as caller speech in this session's hands (`delivering`): a
gateway's death then makes the replacement ask the caller again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from domain.contracts import TurnReply, UserTurn
from media_gateway.call_context import CallContext
from media_gateway.control import StaleTurnError, TurnRefusedError

log = logging.getLogger(__name__)

# After this long the utterance is given up (the workflow is away far longer than a restart).
TURN_DELIVERY_SEC = 30.0
TURN_RETRY_FIRST_SEC = 0.2
TURN_RETRY_MAX_SEC = 3.0
HOLD_AFTER_SEC = 1.5  # a turn not taken by then: "One moment, please." (once)


class TurnSender:
    def __init__(
        self,
        call: CallContext,
        *,
        changed: Callable[[], None],
        given_up: Callable[[], None],
        after_turn: Callable[[], Awaitable[None]],
    ) -> None:
        """`changed`: `delivering` went down; `given_up`: a turn was not delivered (the caller
        is asked to repeat); `after_turn`: run once a turn is through (the flags refresh)."""
        self._call = call
        self._changed = changed
        self._given_up = given_up
        self._after_turn = after_turn
        self.next_turn_id = 1
        self.turns: list[UserTurn] = []  # sent to the workflow (observability, tests)
        self.delivering = 0  # turns sent, not yet taken by the workflow
        self.holds = 0  # hold phrases said while a turn waited for the workflow

    async def send(
        self,
        text: str,
        ended_at: float,
        stt: tuple[float, float] | None = None,
        *,
        counted: bool = False,
    ) -> None:
        """`counted`: the caller already counted it in `delivering` (turns not taken yet)."""
        taken = asyncio.Event()
        if not counted:
            self.delivering += 1

        def on_taken() -> None:
            # The workflow holds the caller's words from here: a gateway death now loses none.
            if not taken.is_set():
                taken.set()
                self.delivering -= 1
                self._changed()

        hold = asyncio.create_task(self._hold(taken))
        closing = False
        try:
            await self._send_numbered(text, ended_at, stt, on_taken)
        except asyncio.CancelledError:
            # The socket closed with the words not taken: the hearing flag stays up, so the
            # replacement asks the caller for them again.
            closing = True
            raise
        finally:
            hold.cancel()
            if not closing:
                on_taken()
        await self._after_turn()

    async def _send_numbered(
        self,
        text: str,
        ended_at: float,
        stt: tuple[float, float] | None,
        on_taken: Callable[[], None],
    ) -> None:
        call = self._call
        ended = datetime.now(UTC) - timedelta(seconds=max(call.clock() - ended_at, 0.0))
        for attempt in range(2):
            turn_id = self.next_turn_id
            turn = UserTurn(text=text, turn_id=turn_id, channel="voice", speech_ended_at=ended)
            self.next_turn_id += 1
            self.turns.append(turn)
            call.telemetry.turn_sent(turn_id, ended_at, stt)
            try:
                with call.telemetry.sending(turn_id):
                    reply = await self._deliver(turn, on_taken)
                if reply is not None and "speech_lang" in reply.tool_calls:
                    await self._refresh_lang()
                return
            except StaleTurnError:
                if attempt:
                    raise
                # The workflow moved on (a chat turn, another gateway): renumber once.
                self.next_turn_id = max(
                    self.next_turn_id, (await call.control.view()).last_turn_id + 1
                )

    async def _deliver(self, turn: UserTurn, on_taken: Callable[[], None]) -> TurnReply | None:
        """Send `turn` until the workflow takes it: the same id every time (its update id is
        derived from it, so a resend of a turn already applied returns the first outcome)."""
        call = self._call
        deadline = call.clock() + TURN_DELIVERY_SEC
        delay = TURN_RETRY_FIRST_SEC
        resent = False
        while True:
            try:
                return await call.control.user_turn(turn, accepted=on_taken)
            except StaleTurnError:
                if not resent:
                    raise
                # An earlier send may have been applied, its outcome forgotten since (the
                # history was rotated): it was this turn, not to be sent again.
                log.warning("call %s: turn %s was applied before", call.call_id, turn.turn_id)
                return None
            except TurnRefusedError:
                raise
            except Exception as exc:  # outcome unknown: Temporal away, no worker, a timeout
                if call.clock() + delay > deadline:
                    self._given_up()  # the caller must not wait for an answer
                    raise
                log.warning(
                    "call %s: turn %s not delivered (%s: %s); sending it again",
                    call.call_id, turn.turn_id, type(exc).__name__, exc,
                )  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, TURN_RETRY_MAX_SEC)
                resent = True

    async def _hold(self, taken: asyncio.Event) -> None:
        """The workflow has not taken the turn after `HOLD_AFTER_SEC`: a hold phrase, once."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(taken.wait(), HOLD_AFTER_SEC)
            return
        if self._call.speaker is not None:
            self.holds += 1
            self._call.say("hold")

    async def _refresh_lang(self) -> None:
        """The bot switched language: the caller is heard in the new one from now on."""
        try:
            self._call.lang = (await self._call.control.view()).lang
        except Exception:  # the next turn is heard in the old language; the call goes on
            log.warning("call %s: language not refreshed", self._call.call_id, exc_info=True)
