"""Sending text messages."""

from __future__ import annotations

from typing import Protocol

from domain.contracts import SendSmsResult


class SmsSender(Protocol):
    async def send(self, to: str, body: str, *, call_id: str | None = None) -> SendSmsResult: ...
