"""Outbound campaigns: create one (its contacts go to the campaign store, never into a workflow
input), add contacts, pause, resume, cancel, read its progress, and its report page."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import ValidationError
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from activities.campaign import build_call, cost_of, ensure_campaign_attributes
from activities.campaign_store import CampaignRecord, CampaignStore, NewContact
from api.deps import Services, ServicesDep, require_api_key
from api.errors import ApiError, validation_details
from api.routes.report import SECURITY_HEADERS, TEMPLATES_DIR
from api.schemas import (
    CampaignContactsAdded,
    CampaignContactsCreate,
    CampaignCreate,
    CampaignCreated,
    CampaignView,
)
from domain.call import CallInitiate
from domain.campaign import (
    CAMPAIGN_ID,
    CAMPAIGN_STATUS,
    CampaignCarry,
    CampaignInput,
    CampaignProgress,
    CampaignStatus,
    Contact,
    campaign_workflow_id,
)
from domain.phone import mask, timezone_for
from domain.templating import TemplateError
from providers.llm.phrase_translation import PhraseTranslator
from workflows.campaign import CampaignWorkflow

router = APIRouter(tags=["campaigns"], dependencies=[Depends(require_api_key)])

FINISHED = (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED)
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such campaign"}}
FINISHED_OR_GONE: dict[int | str, dict[str, Any]] = {
    409: {"description": "The campaign has finished (or is not running)"}
}
_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
MAX_ERRORS_SHOWN = 20
CAMPAIGN_TASK_TIMEOUT = timedelta(seconds=10)


@asynccontextmanager
async def campaign_store(services: Services) -> AsyncIterator[CampaignStore]:
    """The campaign store for one request (a SQLite connection opens in a millisecond, and
    none is left behind by an app that does not close its own)."""
    settings = services.settings
    store = await CampaignStore(settings.campaigns.path(settings.store)).open()
    try:
        yield store
    finally:
        await store.close()


def _now() -> datetime:
    return datetime.now(UTC)


def _contacts(
    services: Services, record: CampaignRecord, contacts: list[Contact], first: int
) -> list[NewContact]:
    """Stored contacts, each checked against the template (every `{name}` has a value)."""
    errors: list[dict[str, Any]] = []
    rows: list[NewContact] = []
    codec = services.settings.temporal.codec
    for index, contact in enumerate(contacts):
        try:
            build_call(record, contact.phone_number, contact.variables)
        except TemplateError as exc:
            errors.append({"field": f"contacts.{first + index}", "reason": str(exc)})
            continue
        except ValidationError as exc:
            # The first line of a ValidationError only counts errors: say which and why.
            first_error = exc.errors()[0]
            reason = str(first_error["msg"]).removeprefix("Value error, ")
            errors.append({"field": f"contacts.{first + index}", "reason": reason})
            continue
        rows.append(
            NewContact(
                phone_number=contact.phone_number,
                phone_key=codec.phone_key(contact.phone_number),
                tz=timezone_for(contact.phone_number),
                variables=contact.variables,
                calling_hours=contact.calling_hours,
            )
        )
    if errors:
        shown = errors[:MAX_ERRORS_SHOWN]
        raise ApiError(422, f"{len(errors)} contacts do not fit the call template", shown)
    return rows


async def _base_call(body: CampaignCreate, services: Services) -> dict[str, Any]:
    """The template over the configured defaults, checked as a call to the first contact."""
    defaults = services.settings.conversation.model_dump()
    merged: dict[str, Any] = {**defaults, **body.call.model_dump(exclude_none=True)}
    if body.webhook_url is not None:
        merged["webhook_url"] = body.webhook_url  # the campaign's calls report there too
    try:
        initiate = CallInitiate.model_validate(
            {**merged, "phone_number": body.contacts[0].phone_number}
        )
    except ValidationError as exc:
        details = validation_details(list(exc.errors()))
        reasons = ", ".join(d["reason"] for d in details)
        raise ApiError(422, f"Invalid call template: {reasons}", details) from exc
    initiate = await PhraseTranslator(services.redis, services.settings.llm.slow).complete(initiate)
    return initiate.model_dump(mode="json", exclude={"phone_number"})


@router.post("/campaigns", status_code=201)
async def create_campaign(body: CampaignCreate, services: ServicesDep) -> CampaignCreated:
    """Store the campaign and its contacts, and start its workflow (paused when asked: add
    more contacts with `POST /campaigns/{id}/contacts`, then resume)."""
    settings = services.settings
    campaign_id = str(uuid.uuid4())
    now = _now()
    record = CampaignRecord(
        campaign_id=campaign_id,
        name=body.name,
        created_at=now,
        status=CampaignStatus.PAUSED if body.paused else CampaignStatus.RUNNING,
        base_call=await _base_call(body, services),
        template=body.call,
        concurrency=body.concurrency,
        starts_per_second=body.starts_per_second,
        calling_hours=body.calling_hours,
        retry=body.retry,
        total=len(body.contacts),
        webhook_url=body.webhook_url,
    )
    rows = _contacts(services, record, body.contacts, 0)
    async with campaign_store(services) as store:
        keys = [settings.temporal.codec.phone_key(n) for n in body.do_not_call]
        if keys:
            await store.add_do_not_call(keys, "campaign list", campaign_id, now)
        await store.create(record, rows)
    registered = await ensure_campaign_attributes(services.temporal, settings.temporal.namespace)
    workflow_id = campaign_workflow_id(campaign_id)
    await services.temporal.start_workflow(
        CampaignWorkflow.run,
        CampaignInput(campaign_id=campaign_id, carry=CampaignCarry(paused=body.paused)),
        id=workflow_id,
        task_queue=settings.temporal.task_queue,
        # Not the calls' 1 s: a campaign run replays up to `rotate_after_events` events, which
        # can take longer than that on a loaded worker (and nothing waits on its failover).
        task_timeout=CAMPAIGN_TASK_TIMEOUT,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(CAMPAIGN_ID, campaign_id),
                SearchAttributePair(CAMPAIGN_STATUS, record.status.value),
            ]
        )
        if registered
        else None,
        static_summary=f"Campaign {body.name or campaign_id} · {len(rows)} contacts",
    )
    return CampaignCreated(
        campaign_id=campaign_id,
        workflow_id=workflow_id,
        temporal_ui_url=settings.temporal.workflow_url(workflow_id),
        status=record.status,
        contacts=len(rows),
    )


@router.post("/campaigns/{campaign_id}/contacts", responses={**NOT_FOUND, **FINISHED_OR_GONE})
async def add_contacts(
    campaign_id: str, body: CampaignContactsCreate, services: ServicesDep
) -> CampaignContactsAdded:
    """More contacts for a campaign not finished yet (a long list comes in pages)."""
    async with campaign_store(services) as store:
        record = await _campaign(store, campaign_id)
        if record.status in FINISHED:
            raise ApiError(409, f"campaign {campaign_id} is {record.status.value}")
        rows = _contacts(services, record, body.contacts, record.total)
        total = await store.add_contacts(campaign_id, rows, _now())
    await _poke(services, campaign_id)
    return CampaignContactsAdded(campaign_id=campaign_id, contacts=total)


async def _campaign(store: CampaignStore, campaign_id: str) -> CampaignRecord:
    record = await store.get(campaign_id)
    if record is None:
        raise ApiError(404, f"no campaign {campaign_id}")
    return record


async def _poke(services: Services, campaign_id: str) -> None:
    """New contacts: a running campaign asleep until its next due contact looks now."""
    handle = services.temporal.get_workflow_handle(campaign_workflow_id(campaign_id))
    try:
        await handle.signal(CampaignWorkflow.contacts_added)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise


async def _progress(services: Services, campaign_id: str) -> CampaignProgress | None:
    handle = services.temporal.get_workflow_handle(campaign_workflow_id(campaign_id))
    try:
        description = await handle.describe()
        if description.status != WorkflowExecutionStatus.RUNNING:
            return None
        progress: CampaignProgress = await handle.query(CampaignWorkflow.progress)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return progress


async def campaign_view(services: Services, campaign_id: str) -> CampaignView:
    async with campaign_store(services) as store:
        record = await _campaign(store, campaign_id)
        states, results = await store.counts(campaign_id)
        cost = await cost_of(store, services.store, campaign_id)
    live = await _progress(services, campaign_id)
    workflow_id = campaign_workflow_id(campaign_id)
    return CampaignView(
        campaign_id=campaign_id,
        name=record.name,
        status=live.status if live is not None else record.status,
        created_at=record.created_at,
        finished_at=record.finished_at,
        contacts=sum(states.values()),
        states=states,
        outcomes=results,
        in_flight=live.in_flight if live else 0,
        max_in_flight=live.max_in_flight if live else None,
        dials=live.dials if live else None,
        concurrency=record.concurrency,
        live=live is not None,
        cost=cost,
        workflow_id=workflow_id,
        temporal_ui_url=services.settings.temporal.workflow_url(workflow_id),
    )


@router.get("/campaigns/{campaign_id}", responses=NOT_FOUND)
async def get_campaign(campaign_id: str, services: ServicesDep) -> CampaignView:
    """Counts of contacts by state and of finished contacts by outcome."""
    return await campaign_view(services, campaign_id)


async def _signal(services: Services, campaign_id: str, name: str) -> CampaignView:
    async with campaign_store(services) as store:
        record = await _campaign(store, campaign_id)
    if record.status in FINISHED:
        raise ApiError(409, f"campaign {campaign_id} is {record.status.value}")
    handle = services.temporal.get_workflow_handle(campaign_workflow_id(campaign_id))
    try:
        await handle.signal(name)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(409, f"campaign {campaign_id} is not running") from exc
        raise
    return await campaign_view(services, campaign_id)


@router.post(
    "/campaigns/{campaign_id}/pause",
    status_code=202,
    responses={**NOT_FOUND, **FINISHED_OR_GONE},
)
async def pause_campaign(campaign_id: str, services: ServicesDep) -> CampaignView:
    """No new dials until resumed; calls in progress go on."""
    return await _signal(services, campaign_id, "pause")


@router.post(
    "/campaigns/{campaign_id}/resume",
    status_code=202,
    responses={**NOT_FOUND, **FINISHED_OR_GONE},
)
async def resume_campaign(campaign_id: str, services: ServicesDep) -> CampaignView:
    return await _signal(services, campaign_id, "resume")


@router.post(
    "/campaigns/{campaign_id}/cancel",
    status_code=202,
    responses={**NOT_FOUND, **FINISHED_OR_GONE},
)
async def cancel_campaign(campaign_id: str, services: ServicesDep) -> CampaignView:
    """No new dials ever; calls in progress finish, the contacts left are cancelled."""
    return await _signal(services, campaign_id, "cancel")


# --- report page -----------------------------------------------------------------------------

_templates = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
)
OUTCOME_BADGES = {
    "completed": "ok",
    "transferred": "ok",
    "voicemail": "info",
    "no_answer": "warn",
    "busy": "warn",
    "caller_hung_up": "warn",
    "rejected": "bad",
    "failed": "bad",
    "transfer_failed": "bad",
    "abandoned": "bad",
    "do_not_call": "bad",
    "cancelled": "",
    "never_open": "bad",
}


@router.get(
    "/report/campaigns/{campaign_id}",
    response_class=HTMLResponse,
    responses={404: {"description": "No such campaign", **_HTML}},
)
async def campaign_report(
    campaign_id: str,
    services: ServicesDep,
    after: Annotated[int, Query(ge=-1, description="Contacts after this sequence number")] = -1,
) -> HTMLResponse:
    """The campaign's page: progress, outcomes, and its contacts a page at a time (numbers
    masked)."""
    try:
        view = await campaign_view(services, campaign_id)
    except ApiError as exc:
        if exc.status != 404:
            raise
        html = _templates.get_template("campaign_404.html").render(campaign_id=campaign_id)
        return HTMLResponse(html, status_code=404, headers=SECURITY_HEADERS)
    async with campaign_store(services) as store:
        contacts = await store.contacts(campaign_id, after=after, limit=100)
    rows = [
        {
            "seq": c.seq,
            "number": mask(c.phone_number),
            "state": c.state.value,
            "result": c.result.value if c.result else None,
            "badge": OUTCOME_BADGES.get(c.result.value, "") if c.result else "info",
            "attempts": c.attempts,
            "due_at": c.due_at,
            "call_id": c.call_id,
        }
        for c in contacts
    ]
    done = sum(view.outcomes.values())
    html = _templates.get_template("campaign_report.html").render(
        view=view,
        rows=rows,
        done=done,
        percent=round(100 * done / view.contacts) if view.contacts else 0,
        badges=OUTCOME_BADGES,
        next_after=rows[-1]["seq"] if len(rows) == 100 else None,
    )
    return HTMLResponse(html, headers=SECURITY_HEADERS)
