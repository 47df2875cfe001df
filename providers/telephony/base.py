"""Call control: what the workflow asks of the phone line."""

from __future__ import annotations

from typing import Protocol

from domain.contracts import TransferResult


class Telephony(Protocol):
    async def hang_up(self, call_id: str, connection_id: str | None) -> None: ...

    async def transfer(
        self, call_id: str, connection_id: str | None, target: str
    ) -> TransferResult: ...
