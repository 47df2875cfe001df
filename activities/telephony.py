"""Call control the LLM tools ask for: hang up, transfer to a human."""

from __future__ import annotations

from temporalio import activity

from domain.contracts import HangUpInput, TransferInput, TransferResult
from providers.telephony.base import Telephony


class TelephonyActivities:
    def __init__(self, telephony: Telephony) -> None:
        self._telephony = telephony

    @activity.defn(name="hang_up")
    async def hang_up(self, input: HangUpInput) -> None:
        await self._telephony.hang_up(input.call_id, input.connection_id)

    @activity.defn(name="transfer_call")
    async def transfer_call(self, input: TransferInput) -> TransferResult:
        return await self._telephony.transfer(input.call_id, input.connection_id, input.target)
