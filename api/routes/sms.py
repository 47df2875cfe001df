"""Inbound text messages (Twilio webhook, ACS Event Grid `SMSReceived`).

A message joins the customer's latest conversation as an SMS turn, and the bot answers by SMS
(the reference only stored them). Update-with-start makes it atomic: a running call gets the
turn; a finished one is resumed with its whole context first.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from api.deps import Services, ServicesDep
from api.errors import ApiError
from domain import attributes
from domain.call import CallInitiate
from domain.contracts import CallInput, UserTurn
from domain.phone import InvalidPhoneNumber, mask, to_e164
from providers.sms.inbound import InboundSms, from_twilio_form
from providers.sms.twilio import verify_twilio_signature
from workflows.call import CallWorkflow

log = logging.getLogger(__name__)
router = APIRouter(tags=["sms"])

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
EVER = datetime(2000, 1, 1, tzinfo=UTC)


@router.post("/twilio/sms")
async def twilio_sms(request: Request, services: ServicesDep) -> Response:
    twilio = services.settings.sms.twilio
    if twilio is None:
        raise ApiError(404, "Twilio is not configured")
    form = {k: str(v) for k, v in (await request.form()).items()}
    # Twilio signs the public URL it called, not the one this process sees behind a proxy.
    url = services.settings.telephony.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += f"?{request.url.query}"
    signature = request.headers.get("x-twilio-signature", "")
    if not verify_twilio_signature(url, form, signature, twilio.auth_token.get_secret_value()):
        log.warning("Twilio webhook rejected: bad signature")
        raise ApiError(403, "invalid X-Twilio-Signature")
    try:
        inbound = from_twilio_form(form)
    except ValueError as exc:
        raise ApiError(400, f"malformed message: {exc}") from exc
    await receive_sms(services, inbound)
    return Response(EMPTY_TWIML, media_type="text/xml")


async def receive_sms(services: Services, inbound: InboundSms) -> None:
    """Append the message to the customer's latest conversation; the bot replies by SMS."""
    try:
        customer = to_e164(inbound.from_number)
    except InvalidPhoneNumber:
        log.warning("SMS from %s ignored: not a phone number", inbound.from_number)
        return
    latest = await services.store.latest_for_phone(customer, since=EVER)
    if latest is not None:
        start = CallInput(
            call_id=latest.call_id,
            initiate=latest.initiate,
            direction=latest.direction,
            channel=latest.channel,
            resume=latest,
        )
    else:
        defaults = services.settings.conversation.model_dump()
        initiate = CallInitiate.model_validate({**defaults, "phone_number": customer})
        start = CallInput(call_id=str(uuid.uuid4()), initiate=initiate, direction="inbound")
    operation = WithStartWorkflowOperation(
        CallWorkflow.run,
        start,
        id=attributes.workflow_id_for(start.call_id),
        task_queue=services.settings.temporal.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=attributes.keyed_phone(
            services.settings.temporal.codec.phone_key(customer)
        ),
    )
    turn = UserTurn(text=inbound.text[:2_000], channel="sms", reply_to=customer)
    reply = await services.temporal.execute_update_with_start_workflow(
        CallWorkflow.user_turn, turn, start_workflow_operation=operation
    )
    log.info("SMS from %s joined call %s (turn %d)", mask(customer), start.call_id, reply.turn_id)
