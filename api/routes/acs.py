"""ACS callbacks and Event Grid deliveries: verified, then signalled to the call's workflow.

A callback must pass three checks before anything reaches a workflow: the secret of that
call in the URL (derived from its id, `core.call_secrets`), the ACS-signed JWT (RS256,
audience = the ACS resource id), and the connection id of every event belonging to that call.
Any failure rejects the whole batch.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from temporalio.client import WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.acs_auth import (
    CallbackAuthError,
    JwksUnavailable,
    check_secret,
    verify_callback_token,
)
from api.deps import Services, ServicesDep
from api.errors import ApiError, error_body
from api.idempotency import call_id_for_incoming
from api.json_body import read_json
from api.routes.sms import receive_sms, usable_sms
from api.webhook_schemas import (
    CALLBACK_OPENAPI,
    CALLBACK_RESPONSES,
    EVENT_GRID_OPENAPI,
    EVENT_GRID_RESPONSES,
)
from core import call_secrets
from core.settings import CodecSettings
from core.temporal import WORKFLOW_TASK_TIMEOUT
from domain import attributes
from domain.call import CallInitiate, CallState, CallStatus
from domain.contracts import AcsEvent, CallInput, IncomingCall
from domain.flags import FeatureFlags
from domain.phone import InvalidPhoneNumber, mask, to_e164
from providers.llm.phrase_translation import PhraseTranslator
from providers.sms.inbound import SMS_RECEIVED_EVENT, from_event_grid
from providers.telephony.acs_events import InvalidEvent, parse_callback, parse_event_grid
from workflows.call import CallWorkflow, details_for, summary_for
from workflows.call_phone import HANDLED_EVENTS
from workflows.call_transfer import caller_left

log = logging.getLogger(__name__)
router = APIRouter(tags=["telephony"])

# Event Grid retries a delivery for up to 24 hours.
_MARKER_TTL_SEC = 24 * 3600
_HANDLED = b"handled"


def _reject(status: int, call_id: str, reason: str) -> ApiError:
    log.warning("callback for call %s rejected (%s): %s", call_id, status, reason)
    return ApiError(status, reason)


@router.post(
    "/communicationservices/callback/{call_id}/{secret}",
    status_code=204,
    openapi_extra=CALLBACK_OPENAPI,
    responses=CALLBACK_RESPONSES,
)
async def acs_callback(
    call_id: str, secret: str, request: Request, services: ServicesDep
) -> Response:
    acs = services.settings.telephony.acs
    if acs is None or services.jwks is None:
        raise _reject(404, call_id, "telephony is not configured")
    call = await services.store.get(call_id)
    # Same answer for an unknown call and a wrong secret: do not reveal which calls exist.
    if call is None or not callback_secret_ok(services, call, secret):
        raise _reject(403, call_id, "unknown call or wrong secret")
    try:
        await verify_callback_token(
            request.headers.get("authorization"),
            jwks=services.jwks,
            audience=acs.resource_id,
            issuer=acs.issuer,
            leeway_sec=acs.callback_leeway_sec,
        )
    except JwksUnavailable as exc:
        # Our side cannot check the token right now: ACS retries a 503 later.
        raise _reject(503, call_id, f"cannot verify the callback token: {exc}") from exc
    except CallbackAuthError as exc:
        raise _reject(401, call_id, f"invalid callback token: {exc}") from exc
    try:
        events = parse_callback(read_json(await request.body()))
    except (InvalidEvent, ValueError) as exc:
        # A 400, never a 500: ACS retries a 5xx, and this delivery can never succeed.
        raise _reject(400, call_id, f"malformed events: {exc}") from exc
    for event in events:
        if not await _belongs(services, call, event):
            raise _reject(403, call_id, f"event {event.id} is for connection {event.connection_id}")
    handle = services.temporal.get_workflow_handle_for(
        CallWorkflow.run, attributes.workflow_id_for(call_id)
    )
    for event in events:
        if event.type not in HANDLED_EVENTS and not caller_left(call, event):
            log.info("call %s: ACS event %s acknowledged, nothing to do", call_id, event.type)
            continue
        try:
            await handle.signal(CallWorkflow.acs_event, event)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            log.info("call %s is closed; event %s dropped", call_id, event.type)
    return Response(status_code=204)


def callback_secret_ok(services: Services, call: CallState, given: str) -> bool:
    """The secret derived for the call, or the random one a call started before derivation
    still holds in its state."""
    derived = call_secrets.callback_secret(
        services.settings.telephony.call_secret_key, call.call_id
    )
    return call_secrets.matches(given, derived, call.callback_secret)


async def _belongs(services: Services, call: CallState, event: AcsEvent) -> bool:
    """True when the event's connection is this call's (or not yet known to be anyone's)."""
    if not event.connection_id:
        return True
    owner = await services.connections.call_for(event.connection_id)
    if owner is not None:
        return owner == call.call_id
    return call.connection_id in (None, event.connection_id)


@router.post("/eventgrid/events", openapi_extra=EVENT_GRID_OPENAPI, responses=EVENT_GRID_RESPONSES)
async def event_grid(request: Request, services: ServicesDep) -> Any:
    """Event Grid webhook: the subscription handshake, then incoming calls."""
    acs = services.settings.telephony.acs
    if acs is None:
        raise ApiError(404, "telephony is not configured")
    expected = acs.event_grid_secret.get_secret_value() if acs.event_grid_secret else None
    if expected is not None and not check_secret(expected, request.query_params.get("secret", "")):
        log.warning("Event Grid delivery rejected: wrong secret")
        raise ApiError(401, "missing or invalid secret")
    # Every event is checked before any is acted on: a batch is taken whole or refused whole
    # with a 400, which Event Grid does not retry (it dead-letters the batch), where a 500 would
    # be redelivered for a day.
    try:
        batch = parse_event_grid(read_json(await request.body()))
        texts = [
            usable_sms(from_event_grid(e))
            for e in batch.others
            if e.get("eventType") == SMS_RECEIVED_EVENT
        ]
    except (InvalidEvent, ValueError) as exc:
        return JSONResponse(error_body(f"malformed events: {exc}"), status_code=400)
    if batch.validation_code is not None:
        return {"validationResponse": batch.validation_code}
    for incoming in batch.incoming_calls:
        await _on_incoming_call(services, incoming)
    for text in texts:
        await receive_sms(services, text)
    for other in batch.others:
        if other.get("eventType") != SMS_RECEIVED_EVENT:
            log.info("Event Grid event %s acknowledged, nothing to do", other.get("eventType"))
    return {}


async def _on_incoming_call(services: Services, incoming: IncomingCall) -> None:
    try:
        caller = to_e164(incoming.caller)
    except InvalidPhoneNumber:
        log.warning("incoming call from %s: not a phone number, not answered", incoming.caller)
        return
    # Event Grid redelivers an event it got no 2xx for (and may deliver one twice anyway). The
    # first delivery's decision (resume which call, or which new call) is recorded before
    # acting, so a redelivery after a crash half-way finishes the same action, and one after
    # it is done changes nothing.
    marker = f"incoming-call:{call_id_for_incoming(incoming.incoming_call_context)}"
    try:
        decision = await services.redis.get(marker)
        if decision in (_HANDLED, _HANDLED.decode()):
            log.info("incoming call from %s delivered again: already handled", mask(caller))
            return
        if decision is None:
            await services.redis.set(
                marker, await _decide(services, caller, incoming), nx=True, ex=_MARKER_TTL_SEC
            )
            decision = await services.redis.get(marker)
    except RedisError as exc:
        # A ringing customer is answered without the mark: the call's id still comes from
        # the incoming call, so a redelivery can start no second call.
        log.warning("incoming call from %s: Redis unavailable (%s)", mask(caller), exc)
        decision = await _decide(services, caller, incoming)
    text = decision.decode() if isinstance(decision, bytes) else str(decision or "")
    mode, _, call_id = text.partition(" ")
    recent = await services.store.get(call_id) if mode == "resume" else None
    if recent is not None:
        await _resume(services, recent, incoming)
    else:
        fallback = call_id_for_incoming(incoming.incoming_call_context)
        await _start_inbound(services, caller, incoming, call_id if mode == "new" else fallback)
    with contextlib.suppress(RedisError):
        await services.redis.set(marker, _HANDLED, ex=_MARKER_TTL_SEC)


async def _decide(services: Services, caller: str, incoming: IncomingCall) -> str:
    """`resume <call id>` for a call back within the window, else `new <call id>`."""
    new = call_id_for_incoming(incoming.incoming_call_context)
    if await _started(services, new):
        return f"new {new}"  # handled before Redis lost its mark: starting it again is a no-op
    assert services.flags is not None
    try:
        flags = await services.flags.get()
    except RedisError:
        flags = FeatureFlags()  # the documented defaults: the caller is answered anyway
    since = datetime.now(UTC) - timedelta(hours=flags.callback_timeout_hour)
    recent = await services.store.latest_for_phone(caller, since=since)
    if recent is not None and recent.channel == "phone" and not recent.in_progress:
        # The store lags the workflow (it saves at turn ends): a call connected a moment ago
        # can still be stored as starting. Resuming it would hand its live line to this one.
        if not await _live(services, recent.call_id):
            return f"resume {recent.call_id}"
    # No recent call, or one still live on another line: a new call (never two lines sharing
    # one conversation, the reference's #397).
    return f"new {new}"


async def _live(services: Services, call_id: str) -> bool:
    """The call's running workflow says it is in progress (False when it cannot be asked:
    the stored state decides then)."""
    handle = services.temporal.get_workflow_handle_for(
        CallWorkflow.run, attributes.workflow_id_for(call_id)
    )
    try:
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return False
        state = await handle.query(CallWorkflow.get_state)
    except (RPCError, WorkflowQueryFailedError):
        return False
    return state.in_progress


async def _started(services: Services, call_id: str) -> bool:
    handle = services.temporal.get_workflow_handle(attributes.workflow_id_for(call_id))
    try:
        await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def _resume(services: Services, call: CallState, incoming: IncomingCall) -> None:
    log.info("call %s: customer calls back, resuming", call.call_id)
    await services.temporal.start_workflow(
        CallWorkflow.run,
        CallInput(
            call_id=call.call_id,
            initiate=call.initiate,
            direction="inbound",
            channel="phone",
            resume=call.without_secrets(),  # the new connection's URLs are derived
        ),
        id=attributes.workflow_id_for(call.call_id),
        task_queue=services.settings.temporal.task_queue,
        task_timeout=WORKFLOW_TASK_TIMEOUT,
        start_signal="incoming_call",
        start_signal_args=[incoming],
        search_attributes=start_attributes(call.initiate, services.settings.temporal.codec),
    )


async def _start_inbound(
    services: Services, caller: str, incoming: IncomingCall, call_id: str
) -> None:
    defaults = services.settings.conversation.model_dump()
    initiate = CallInitiate.model_validate({**defaults, "phone_number": caller})
    # The phone rings: cached translations only, the missing ones are made for the next call.
    translator = PhraseTranslator(services.redis, services.settings.llm.slow)
    initiate = await translator.complete(initiate, wait=False)
    preview = CallState(
        call_id=call_id, created_at=datetime.now(UTC), initiate=initiate, direction="inbound"
    )
    try:
        await services.temporal.start_workflow(
            CallWorkflow.run,
            CallInput(
                call_id=call_id,
                initiate=initiate,
                direction="inbound",
                created_at=preview.created_at,
                channel="phone",
                incoming=incoming,
            ),
            id=attributes.workflow_id_for(call_id),
            task_queue=services.settings.temporal.task_queue,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
            search_attributes=start_attributes(initiate, services.settings.temporal.codec),
            static_summary=summary_for(preview),
            static_details=details_for(preview),
        )
    except WorkflowAlreadyStartedError:
        log.info("incoming call from %s delivered again: call %s exists", mask(caller), call_id)
        return
    log.info("incoming call from %s: new call %s", mask(caller), call_id)


def start_attributes(initiate: CallInitiate, codec: CodecSettings) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(attributes.PHONE_NUMBER, codec.phone_key(initiate.phone_number)),
            SearchAttributePair(attributes.STATUS, CallStatus.STARTING.value),
            SearchAttributePair(attributes.BOT_NAME, initiate.bot_name),
            SearchAttributePair(attributes.CLAIM_FILLED, 0),
        ]
    )
