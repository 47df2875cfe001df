"""Inbound text messages (Twilio webhook, ACS Event Grid `SMSReceived`).

A message joins the customer's latest conversation as an SMS turn, and the bot answers by SMS
(the reference only stored them). Update-with-start makes it atomic: a running call gets the
turn; a finished one is resumed with its whole context first.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from redis.exceptions import RedisError
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from api.deps import Services, ServicesDep
from api.errors import ApiError
from api.idempotency import call_id_for_sms, sms_update_id
from api.webhook_schemas import TWILIO_OPENAPI, TWILIO_RESPONSES
from core.temporal import WORKFLOW_TASK_TIMEOUT
from domain import attributes
from domain.call import CallInitiate
from domain.contracts import CallInput, UserTurn
from domain.phone import InvalidPhoneNumber, mask, to_e164
from providers.sms.inbound import InboundSms, from_twilio_form
from providers.sms.twilio import verify_twilio_signature
from workflows.call import CallWorkflow

log = logging.getLogger(__name__)
router = APIRouter(tags=["sms"])

# Providers stop redelivering a message within a day.
_MARKER_TTL_SEC = 7 * 24 * 3600
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
EVER = datetime(2000, 1, 1, tzinfo=UTC)


@router.post("/twilio/sms", openapi_extra=TWILIO_OPENAPI, responses=TWILIO_RESPONSES)
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
        inbound = usable_sms(from_twilio_form(form))
    except ValueError as exc:
        # Twilio does not retry a 4xx: the message, which can never be answered, is dropped.
        raise ApiError(400, f"malformed message: {exc}") from exc
    await receive_sms(services, inbound)
    return Response(EMPTY_TWIML, media_type="text/xml")


def usable_sms(inbound: InboundSms) -> InboundSms:
    """The message, if it has words to answer (an MMS of a picture alone has none)."""
    if not inbound.text.strip():
        raise ValueError("the message has no text (media-only messages are not supported)")
    return inbound


async def receive_sms(services: Services, inbound: InboundSms) -> None:
    """Append the message to the customer's latest conversation; the bot replies by SMS."""
    try:
        customer = to_e164(inbound.from_number)
    except InvalidPhoneNumber:
        log.warning("SMS from %s ignored: not a phone number", inbound.from_number)
        return
    # A provider redelivers a message it got no 2xx for, with the same id. The turn's update id
    # comes from that id, so a repeat within the workflow run gets the first turn's outcome;
    # the mark set once it is answered covers a repeat after that run has closed.
    marker = f"sms-inbound:{inbound.provider}:{inbound.message_id}"
    if await _answered(services, marker):
        log.info(
            "SMS %s from %s delivered again: already answered", inbound.message_id, mask(customer)
        )
        return
    latest = await services.store.latest_for_phone(customer, since=EVER)
    if latest is not None:
        start = CallInput(
            call_id=latest.call_id,
            initiate=latest.initiate,
            direction=latest.direction,
            channel=latest.channel,
            resume=latest.without_secrets(),  # a new run: its URLs are derived
        )
    else:
        defaults = services.settings.conversation.model_dump()
        initiate = CallInitiate.model_validate({**defaults, "phone_number": customer})
        call_id = call_id_for_sms(inbound.provider, inbound.message_id)
        start = CallInput(call_id=call_id, initiate=initiate, direction="inbound")
    operation = WithStartWorkflowOperation(
        CallWorkflow.run,
        start,
        id=attributes.workflow_id_for(start.call_id),
        task_queue=services.settings.temporal.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_timeout=WORKFLOW_TASK_TIMEOUT,
        search_attributes=attributes.keyed_phone(
            services.settings.temporal.codec.phone_key(customer)
        ),
    )
    turn = UserTurn(text=inbound.text[:2_000], channel="sms", reply_to=customer)
    reply = await services.temporal.execute_update_with_start_workflow(
        CallWorkflow.user_turn,
        turn,
        id=sms_update_id(inbound.provider, inbound.message_id),
        start_workflow_operation=operation,
    )
    with contextlib.suppress(RedisError):
        await services.redis.set(marker, reply.turn_id, ex=_MARKER_TTL_SEC)
    log.info("SMS from %s joined call %s (turn %d)", mask(customer), start.call_id, reply.turn_id)


async def _answered(services: Services, marker: str) -> bool:
    """Whether the mark says so; without Redis the turn's update id still dedupes."""
    try:
        return bool(await services.redis.exists(marker))
    except RedisError as exc:
        log.warning("SMS dedupe mark unreadable (%s): relying on the update id", exc)
        return False
