"""Placing calls, reading them, and the chat channel of a call."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import ValidationError
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import ServicesDep, require_api_key
from api.errors import ApiError, validation_details
from api.idempotency import IDEMPOTENCY_KEY_DOC, REQUEST_MEMO, call_id_for_key, fingerprint
from api.routes.acs import start_attributes
from api.schemas import CallCreate, CallCreated, CallList, CallView, MessageCreate, MessageReply
from core.temporal import WORKFLOW_TASK_TIMEOUT
from domain import attributes
from domain.call import CallInitiate, CallState, CallStatus, Persona
from domain.contracts import CallInput, UserTurn
from domain.phone import InvalidPhoneNumber, to_e164
from providers.llm.phrase_translation import PhraseTranslator
from workflows.call import CallWorkflow, details_for, summary_for

router = APIRouter(prefix="/call", tags=["calls"], dependencies=[Depends(require_api_key)])

# Update failures raised by the workflow, by ApplicationError type.
_UPDATE_ERRORS = {"InvalidTurn": 422, "StaleTurn": 409, "CallEnded": 409}


def public(call: CallState) -> CallState:
    """The call without the per-call secrets an older call may still hold."""
    return call.without_secrets()


def initiate_from(body: CallCreate, services: ServicesDep) -> CallInitiate:
    """The request merged over the configured conversation defaults."""
    defaults = services.settings.conversation.model_dump()
    given = body.model_dump(exclude_none=True)
    merged: dict[str, Any] = {**defaults, **given}
    # A call's phrases override the configured ones per language and key, not as a whole.
    merged["phrases"] = {
        lang: {**defaults["phrases"].get(lang, {}), **given.get("phrases", {}).get(lang, {})}
        for lang in {**defaults["phrases"], **given.get("phrases", {})}
    }
    merged["prompts"] = {**defaults["prompts"], **given.get("prompts", {})}
    try:
        return CallInitiate.model_validate(merged)
    except ValidationError as exc:
        # Rules across fields (two claim fields of one name) hold only on the whole call.
        details = validation_details(list(exc.errors()))
        reasons = ", ".join(d["reason"] for d in details)
        raise ApiError(422, f"Invalid call: {reasons}", details) from exc


@router.post("", status_code=201)
async def create_call(
    body: CallCreate,
    services: ServicesDep,
    request: Request,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description=IDEMPOTENCY_KEY_DOC,
        ),
    ] = None,
) -> CallCreated:
    """Start a call workflow; returns at once (the call proceeds in the background).

    With an `Idempotency-Key` header, a retry of the same request (after a timeout, a lost
    answer, an API crash) places no second call and gets the first answer back.
    """
    initiate = initiate_from(body, services)
    # A language with no phrase table gets one translated by the model (cached).
    initiate = await PhraseTranslator(services.redis, services.settings.llm.slow).complete(initiate)
    if idempotency_key is None:
        call_id = str(uuid.uuid4())
    else:
        call_id = call_id_for_key(
            request.headers.get(services.settings.api.key_header), idempotency_key
        )
    workflow_id = attributes.workflow_id_for(call_id)
    created = CallCreated(
        call_id=call_id,
        workflow_id=workflow_id,
        temporal_ui_url=services.settings.temporal.workflow_url(workflow_id),
        status=CallStatus.STARTING,
    )
    preview = CallState(call_id=call_id, created_at=_now(), initiate=initiate)
    phone = services.settings.telephony.kind != "none"
    request_print = fingerprint(body.model_dump(mode="json", exclude_none=True))
    try:
        await services.temporal.start_workflow(
            CallWorkflow.run,
            CallInput(
                call_id=call_id,
                initiate=initiate,
                created_at=preview.created_at,
                channel="phone" if phone else "chat",
            ),
            id=workflow_id,
            task_queue=services.settings.temporal.task_queue,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
            # A key names one call for good: once that call has ended, a retry must still
            # not place another one.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            memo={REQUEST_MEMO: request_print} if idempotency_key else None,
            search_attributes=start_attributes(initiate, services.settings.temporal.codec),
            static_summary=summary_for(preview),
            static_details=details_for(preview),
        )
    except WorkflowAlreadyStartedError as exc:
        if idempotency_key is None:
            raise  # a fresh uuid4 taken: not a retry, a bug
        handle = services.temporal.get_workflow_handle(workflow_id)
        first = await (await handle.describe()).memo_value(REQUEST_MEMO, default=None)
        if first != request_print:
            raise ApiError(
                422,
                "Idempotency-Key was already used with a different request body",
                [{"field": "Idempotency-Key", "reason": "reused with another body"}],
            ) from exc
        response.headers["Idempotent-Replayed"] = "true"
    return created


@router.get("")
async def list_calls(
    services: ServicesDep,
    phone_number: Annotated[str, Query(min_length=3, max_length=32)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=2_000)] = None,
) -> CallList:
    try:
        number = to_e164(phone_number)
    except InvalidPhoneNumber as exc:
        raise ApiError(
            422, "Invalid phone_number", [{"field": "phone_number", "reason": str(exc)}]
        ) from exc
    try:
        page = await services.store.list_for_phone(number, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise ApiError(422, "Invalid cursor", [{"field": "cursor", "reason": str(exc)}]) from exc
    return CallList(
        calls=[public(c).model_dump(mode="json") for c in page.calls], next_cursor=page.next_cursor
    )


@router.get("/{call_id}", responses={404: {"description": "No such call"}})
async def get_call(call_id: str, services: ServicesDep) -> CallView:
    """Live state from the running workflow, else the stored copy."""
    workflow_id = attributes.workflow_id_for(call_id)
    url = services.settings.temporal.workflow_url(workflow_id)
    handle = services.temporal.get_workflow_handle_for(CallWorkflow.run, workflow_id)
    try:
        description = await handle.describe()
        if description.status == WorkflowExecutionStatus.RUNNING:
            call = await handle.query(CallWorkflow.get_state)
            return CallView(
                call=public(call),
                in_progress=call.in_progress,
                live=True,
                workflow_id=workflow_id,
                temporal_ui_url=url,
            )
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    stored = await services.store.get(call_id)
    if stored is None:
        raise ApiError(404, f"call {call_id} not found")
    return CallView(
        call=public(stored),
        in_progress=stored.in_progress,
        live=False,
        workflow_id=workflow_id,
        temporal_ui_url=url,
    )


@router.post(
    "/{call_id}/messages",
    responses={
        404: {"description": "No such call"},
        409: {"description": "The call has ended, or a stale turn_id with another text"},
    },
)
async def post_message(call_id: str, body: MessageCreate, services: ServicesDep) -> MessageReply:
    """One text turn of the chat channel: waits for the bot's whole answer.

    With `turn_id` the turn is idempotent: a resend of the same turn (after a 503, a timeout or
    an API crash) gets the first outcome; it is never applied twice.
    """
    handle = services.temporal.get_workflow_handle_for(
        CallWorkflow.run, attributes.workflow_id_for(call_id)
    )
    try:
        reply = await handle.execute_update(
            CallWorkflow.user_turn,
            UserTurn(text=body.text, turn_id=body.turn_id),
            # Temporal returns a completed update's outcome to a repeat of its id (within the
            # run) and joins a repeat of one still in flight: the same id as the gateway's.
            id=turn_update_id(body.turn_id) if body.turn_id is not None else None,
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        if isinstance(cause, ApplicationError) and cause.type == "StaleTurn":
            settled = await _settled(handle, body)
            if settled is not None:
                return settled
        if isinstance(cause, ApplicationError) and cause.type in _UPDATE_ERRORS:
            raise ApiError(_UPDATE_ERRORS[cause.type], cause.message) from exc
        raise ApiError(500, f"the turn failed: {cause}") from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            if await services.store.get(call_id) is not None:
                raise ApiError(409, f"call {call_id} has ended") from exc
            raise ApiError(404, f"call {call_id} not found") from exc
        raise
    return MessageReply(**reply.model_dump())


async def _settled(handle: WorkflowHandle[Any, Any], body: MessageCreate) -> MessageReply | None:
    """The outcome of a resent turn that an earlier run of the call applied, from its state.

    Temporal remembers update ids per run: once the call has continued as new, a resend of a
    turn answered before is refused as stale. The turn is complete (a run rotates only between
    turns), so its answer is what the call stored for that turn id; None when that turn id holds
    another text (a real conflict, answered 409).
    """
    if body.turn_id is None:
        return None
    state = await handle.query(CallWorkflow.get_state)
    mine = [m for m in state.messages if m.turn_id == body.turn_id]
    said = [m.content for m in mine if m.persona is Persona.HUMAN]
    if said != [body.text.strip()]:
        return None
    answers = [m for m in mine if m.persona is Persona.ASSISTANT]
    return MessageReply(
        turn_id=body.turn_id,
        text=" ".join(m.content for m in answers if m.content),
        tool_calls=[t.function_name for m in answers for t in m.tool_calls],
        status=state.status,
        ended=state.status is CallStatus.ENDED,
    )


def turn_update_id(turn_id: int) -> str:
    return f"turn-{turn_id}"


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
