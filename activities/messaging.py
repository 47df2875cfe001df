"""Text messages to the customer, and alerts about emergencies."""

from __future__ import annotations

import logging

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.contracts import EmergencyInput, EmergencyResult, SendSmsInput, SendSmsResult
from providers.sms.base import SmsRejected, SmsSender

log = logging.getLogger(__name__)


class MessagingActivities:
    def __init__(self, sms: SmsSender) -> None:
        self._sms = sms

    @activity.defn(name="send_sms")
    async def send_sms(self, input: SendSmsInput) -> SendSmsResult:
        info = activity.info()
        try:
            return await self._sms.send(
                input.to,
                input.body,
                call_id=input.call_id,
                # Retries of this activity are repeats of one message, not new messages.
                idempotency_key=f"{info.workflow_id}/{info.activity_id}",
                first_sent=info.scheduled_time,
            )
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
        result = await self._sms.send(input.agent_phone_number, body[:1_600], call_id=input.call_id)
        return EmergencyResult(notified=True, detail=f"agent alerted, message {result.message_id}")
