"""Sending text messages."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from domain.contracts import SendSmsResult


class SmsSender(Protocol):
    async def send(
        self,
        to: str,
        body: str,
        *,
        call_id: str | None = None,
        idempotency_key: str | None = None,
        first_sent: datetime | None = None,
    ) -> SendSmsResult:
        """Send one text. With `idempotency_key` + `first_sent`, a retry is not sent twice
        (where the provider supports it)."""
        ...
