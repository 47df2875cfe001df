"""Sending text messages."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

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


@runtime_checkable
class SentLookup(Protocol):
    """A sender that can find a message it already sent, for providers without idempotent
    sends (Twilio): a retry whose first attempt may have sent the text looks it up first."""

    async def find_sent(
        self, to: str, body: str, *, idempotency_key: str, since: datetime
    ) -> SendSmsResult | None:
        """The message with this key (or, where the provider keeps no key, this recipient and
        body) sent at or after `since`; None when there is none."""
        ...


_RETRYABLE_STATUSES = frozenset({408, 429})


class SmsError(Exception):
    """A message could not be sent."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class SmsRejected(SmsError):
    """The provider refused the message (4xx): sending it again cannot succeed."""


class SmsUnavailable(SmsError):
    """The provider could not be reached or failed (5xx, 408, 429, network): worth retrying."""


def classify(text: str, status: int | None, code: str | None, *, repeatable: bool) -> SmsError:
    """`SmsUnavailable` for what a later attempt may fix, else `SmsRejected`."""
    if status is None or status >= 500 or status in _RETRYABLE_STATUSES:
        return SmsUnavailable(text, status=status, code=code)
    if status == 409 and repeatable:
        # A repeat of a request still being executed: ask again once it has finished.
        return SmsUnavailable(text, status=status, code=code)
    return SmsRejected(text, status=status, code=code)
