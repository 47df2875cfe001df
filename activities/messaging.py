"""Text messages to the customer, and alerts about emergencies."""

from __future__ import annotations

import logging

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.contracts import EmergencyInput, EmergencyResult, SendSmsInput, SendSmsResult
from providers.sms.base import SentLookup, SmsRejected, SmsSender

log = logging.getLogger(__name__)


class MessagingActivities:
    def __init__(self, sms: SmsSender) -> None:
        self._sms = sms

    @activity.defn(name="send_sms")
    async def send_sms(self, input: SendSmsInput) -> SendSmsResult:
        try:
            return await self._send_once(input.to, input.body, input.call_id)
        except SmsRejected as exc:
            raise ApplicationError(str(exc), type="SmsRejected", non_retryable=True) from exc

    @activity.defn(name="notify_emergencies")
    async def notify_emergencies(self, input: EmergencyInput) -> EmergencyResult:
        # The reference only logged this. A human must act, so the on-duty agent gets an SMS.
        log.warning(
            "EMERGENCY call=%s service=%s location=%s contact=%s reason=%s",
            input.call_id,
            input.service,
            input.location,
            input.contact,
            input.reason,
        )
        body = (
            f"EMERGENCY ({input.service}) on call {input.call_id}: {input.reason}. "
            f"Location: {input.location}. Contact: {input.contact}."
        )
        result = await self._send_once(input.agent_phone_number, body[:1_600], input.call_id)
        return EmergencyResult(notified=True, detail=f"agent alerted, message {result.message_id}")

    async def _send_once(self, to: str, body: str, call_id: str) -> SendSmsResult:
        """Send the text of this activity once, whatever its attempt.

        Retries of this activity are repeats of one message, not new messages: the key and the
        first attempt's time let ACS answer a repeat with the first result; a sender without
        idempotent sends (Twilio) is asked for the message first when an earlier attempt may
        have sent it (it died, or lost the answer, after the provider took the message).
        """
        info = activity.info()
        key = f"{info.workflow_id}/{info.activity_id}"
        if info.attempt > 1 and isinstance(self._sms, SentLookup):
            found = await self._sms.find_sent(
                to, body, idempotency_key=key, since=info.scheduled_time
            )
            if found is not None:
                log.info("sms of %s was sent by attempt < %d: %s", key, info.attempt, found)
                return found
        return await self._sms.send(
            to, body, call_id=call_id, idempotency_key=key, first_sent=info.scheduled_time
        )
