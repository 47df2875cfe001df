"""Text messages through Azure Communication Services SMS (or the local emulator).

One `SmsClient` built from an explicit endpoint and key: a connection string would silently turn
an `http://` endpoint (the emulator) into `https://`. Errors come out as `SmsRejected` (ACS
refused the message: retrying cannot help) or `SmsUnavailable` (server error, throttling,
network: retry later). A send that ACS accepted returns `delivered=True`: the message is queued
for the carrier; the handset's delivery is only known from a later delivery report.

Repeatability: API 2021-03-07 carries `repeatabilityRequestId`/`repeatabilityFirstSent` per
recipient in the body, and the SDK fills them with a fresh UUID and "now" on every `send`. With
`idempotency_key` and `first_sent` (the first attempt's time, e.g. the activity's
`scheduled_time`) both fields are replaced by stable values, so a retried activity gets the first
answer back instead of sending the text twice. Without `first_sent` the SDK's values are kept, as
`AcsTelephony` does: a stable id with a changing first-sent time would be a mismatched repeat.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from azure.communication.sms.aio import SmsClient
from azure.core.credentials import AzureKeyCredential
from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy

from domain.contracts import SendSmsResult
from domain.phone import mask
from providers.sms.base import SmsError, SmsRejected, SmsUnavailable, classify
from providers.telephony.acs import repeatability_headers

__all__ = ["AcsSms", "SmsError", "SmsRejected", "SmsUnavailable"]

log = logging.getLogger(__name__)

# Statuses worth retrying: the same request may succeed later.
# The stable (request id, first-sent) of the send running in this task, read by the policy
# below: the SDK's `send` has no way to pass them through to the request body.
_REPEATABILITY: ContextVar[tuple[str, str] | None] = ContextVar("acs_sms_repeatability")


class _StableRepeatability(SansIOHTTPPolicy[Any, Any]):
    """Replaces the SDK's per-call repeatability values with the caller's stable ones.

    Runs before the retry and HMAC policies, so the signature covers the rewritten body and the
    SDK's own retries resend it unchanged.
    """

    def on_request(self, request: PipelineRequest[Any]) -> None:
        stable = _REPEATABILITY.get(None)
        if stable is None:
            return
        http = request.http_request
        body = json.loads(http.body)
        for recipient in body.get("smsRecipients", []):
            recipient["repeatabilityRequestId"], recipient["repeatabilityFirstSent"] = stable
        http.set_json_body(body)


class AcsSms:
    """`SmsSender` on Azure Communication Services SMS."""

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        from_number: str,
        *,
        retry_total: int = 3,
        retry_backoff_factor: float = 0.8,
    ) -> None:
        # The HMAC signature covers the endpoint's host as written: a trailing slash would end
        # up in it and the service would reject every request.
        self._client = SmsClient(
            endpoint.rstrip("/"),
            AzureKeyCredential(access_key),
            per_call_policies=[_StableRepeatability()],
            retry_total=retry_total,
            retry_backoff_factor=retry_backoff_factor,
        )
        self.from_number = from_number

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> AcsSms:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def send(
        self,
        to: str,
        body: str,
        *,
        call_id: str | None = None,
        idempotency_key: str | None = None,
        first_sent: datetime | None = None,
    ) -> SendSmsResult:
        """Send `body` to `to`; `call_id` comes back as the tag of the delivery report."""
        stable: tuple[str, str] | None = None
        if idempotency_key is not None and first_sent is not None:
            headers = repeatability_headers(f"sms/{idempotency_key}", first_sent)
            stable = headers["Repeatability-Request-ID"], headers["Repeatability-First-Sent"]
        token = _REPEATABILITY.set(stable)
        try:
            results = await self._client.send(
                from_=self.from_number,
                to=[to],
                message=body,
                enable_delivery_report=True,
                tag=call_id,
            )
        except AzureError as exc:
            raise _translate(exc, repeatable=stable is not None) from exc
        finally:
            _REPEATABILITY.reset(token)
        if len(results) != 1:
            raise SmsUnavailable(f"ACS answered {len(results)} results for one recipient")
        result = results[0]
        status = int(result.http_status_code)
        if not result.successful:
            reason = result.error_message or ""
            text = f"ACS refused the SMS to {mask(to)}: {status} {reason}".strip()
            raise classify(text, status, None, repeatable=stable is not None)
        log.info("sms %s sent to %s (call %s)", result.message_id, mask(to), call_id)
        return SendSmsResult(message_id=str(result.message_id), delivered=True)


def _translate(exc: AzureError, *, repeatable: bool) -> SmsError:
    if isinstance(exc, HttpResponseError):
        status: int | None = exc.status_code
        code = exc.error.code if exc.error is not None else None
        message = exc.message or str(exc)
    else:
        status, code, message = None, None, str(exc) or type(exc).__name__
    text = f"ACS SMS failed: {status or type(exc).__name__} {code or ''} {message}"
    text = " ".join(text.split())
    return classify(text, status, code, repeatable=repeatable)
