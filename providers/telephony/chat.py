"""The telephony of a call held over the chat channel, with no phone line.

There is no line to hang up; a transfer cannot bridge anything, so it is queued as a
hand-off for a human agent (recorded in the call state and logged) rather than failing.
"""

from __future__ import annotations

import logging

from domain.contracts import TransferResult

log = logging.getLogger(__name__)


class ChatTelephony:
    # connection_id is part of the Telephony interface; a chat call has none.
    async def hang_up(self, call_id: str, connection_id: str | None) -> None:  # noqa: ARG002
        log.info("chat call %s closed (no phone line to hang up)", call_id)

    async def transfer(
        self,
        call_id: str,
        connection_id: str | None,  # noqa: ARG002
        target: str,
    ) -> TransferResult:
        log.warning("call %s: hand-off to a human agent at %s queued", call_id, target)
        return TransferResult(
            status="queued",
            detail=f"No phone line on this channel: an agent at {target} will contact the "
            "customer.",
        )
