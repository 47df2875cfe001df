"""Text messages through Twilio's Messages API, and the check of Twilio's webhook signature.

Errors come out as in `AcsSms`: `SmsRejected` (Twilio refused the message, e.g. 400 with its
`{code, message, more_info, status}` body) or `SmsUnavailable` (5xx, 429, network).

Twilio has no idempotent message create: `idempotency_key`/`first_sent` are accepted so both
senders share one call shape, and a repeat is caught by `find_sent` instead: the activity asks
for the message (Twilio's message list, filtered by recipient and sender) before sending again
when an earlier attempt may have sent it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from domain.contracts import SendSmsResult
from domain.phone import mask
from providers.sms.base import SmsError, SmsRejected, SmsUnavailable, classify

__all__ = [
    "SIGNATURE_HEADER",
    "SmsError",
    "SmsRejected",
    "SmsUnavailable",
    "TwilioSms",
    "twilio_signature",
    "verify_twilio_signature",
]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Signature"
# Statuses of a message Twilio gave up on; any other (queued, accepted, sent…) is on its way.
_FAILED_STATUSES = frozenset({"failed", "undelivered", "canceled"})
# Twilio stamps messages to the second, with its own clock: a message sent by an earlier attempt
# may read as a little older than the first attempt's scheduled time.
_CLOCK_SLACK = timedelta(seconds=30)
# How many of the recipient's latest messages are searched (newest first).
_LOOKUP_PAGE = 50


class TwilioSms:
    """`SmsSender` on Twilio (`POST /2010-04-01/Accounts/{sid}/Messages.json`)."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        *,
        base_url: str = "https://api.twilio.com",
        timeout_s: float = 10.0,
    ) -> None:
        self.from_number = from_number
        self._path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            auth=httpx.BasicAuth(account_sid, auth_token),
            timeout=timeout_s,
        )

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> TwilioSms:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def send(
        self,
        to: str,
        body: str,
        *,
        call_id: str | None = None,
        idempotency_key: str | None = None,  # noqa: ARG002 (see the module docstring)
        first_sent: datetime | None = None,  # noqa: ARG002
    ) -> SendSmsResult:
        """Send `body` to `to`; `call_id` is only logged (Twilio has no tag field)."""
        form = {"To": to, "From": self.from_number, "Body": body}
        try:
            response = await self._http.post(self._path, data=form)
        except httpx.HTTPError as exc:
            text = f"Twilio unreachable: {type(exc).__name__}: {exc}"
            raise SmsUnavailable(text) from exc
        if response.status_code >= 400:
            raise _error(response)
        try:
            message = response.json()
            sid, status = str(message["sid"]), str(message.get("status", ""))
        except (ValueError, KeyError, TypeError) as exc:
            raise SmsUnavailable(f"Twilio answered {response.status_code} without a sid") from exc
        if status in _FAILED_STATUSES:
            text = f"Twilio message {sid} to {mask(to)} is {status}"
            raise SmsRejected(text, status=response.status_code)
        log.info("sms %s to %s is %s (call %s)", sid, mask(to), status, call_id)
        return SendSmsResult(message_id=sid, delivered=True)

    async def find_sent(
        self,
        to: str,
        body: str,
        *,
        idempotency_key: str,  # noqa: ARG002 (Twilio keeps no key: recipient + body + time)
        since: datetime,
    ) -> SendSmsResult | None:
        """The message with this body sent from our number to `to` at or after `since`.

        Raises `SmsUnavailable` when Twilio cannot be asked: sending again blind could text the
        customer twice, so the retry waits for an answer instead.
        """
        params = {"To": to, "From": self.from_number, "PageSize": str(_LOOKUP_PAGE)}
        try:
            response = await self._http.get(self._path, params=params)
        except httpx.HTTPError as exc:
            raise SmsUnavailable(f"Twilio unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise _error(response)
        try:
            messages = response.json()["messages"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SmsUnavailable("Twilio's message list has no messages field") from exc
        for message in messages if isinstance(messages, list) else []:
            if _matches(message, body, since):
                sid = str(message["sid"])
                log.info("sms %s to %s was already sent", sid, mask(to))
                return SendSmsResult(message_id=sid, delivered=True)
        return None


def _matches(message: Any, body: str, since: datetime) -> bool:
    if not isinstance(message, dict) or message.get("body") != body:
        return False
    if str(message.get("status", "")) in _FAILED_STATUSES:
        return False
    try:
        created = parsedate_to_datetime(str(message.get("date_created")))
    except (TypeError, ValueError):
        return False
    return created >= since - _CLOCK_SLACK


def _error(response: httpx.Response) -> SmsError:
    code: str | None = None
    message = response.reason_phrase
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = str(body["code"]) if body.get("code") is not None else None
        message = str(body.get("message") or message)
        if body.get("more_info"):
            message += f" ({body['more_info']})"
    text = f"Twilio refused the SMS: {response.status_code} {code or ''} {message}"
    return classify(" ".join(text.split()), response.status_code, code, repeatable=False)


def twilio_signature(url: str, params: Mapping[str, str], auth_token: str) -> str:
    """Base64 HMAC-SHA1, keyed by the auth token, of the URL then each sorted key and value."""
    payload = url + "".join(key + params[key] for key in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify_twilio_signature(
    url: str, params: dict[str, str], signature: str, auth_token: str
) -> bool:
    """Whether `signature` (the X-Twilio-Signature header) signs this webhook request.

    `url` is the full URL Twilio requested, query string included; `params` the POSTed form.
    Twilio may sign the URL with or without the default port, so both forms are accepted, as
    Twilio's own validators do.
    """
    if not signature:
        return False
    given = signature.encode()
    return any(
        hmac.compare_digest(given, twilio_signature(candidate, params, auth_token).encode())
        for candidate in _port_variants(url)
    )


def _port_variants(url: str) -> list[str]:
    """`url`, and the same URL with the scheme's default port added or removed."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:  # not a number: only the URL as given can match
        return [url]
    if default is None or parts.hostname is None:
        return [url]
    userinfo, _, host_port = parts.netloc.rpartition("@")
    prefix = f"{userinfo}@" if userinfo else ""
    if port is None:
        other = f"{prefix}{host_port}:{default}"
    elif port == default:
        other = prefix + host_port.rsplit(":", 1)[0]
    else:
        return [url]
    return [url, urlunsplit(parts._replace(netloc=other))]
