"""Campaign activities: the store work of `CampaignWorkflow` (plan, claim, record, finish) and
watching a placed call until it ends.

A call's line is free again when the call has ended, not when its workflow completes (a dropped
call waits hours for the customer to call back): `watch_call` follows the call's stored state.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.campaign_store import CampaignRecord, CampaignStore
from core.settings import Settings
from domain import attributes
from domain.call import CallInitiate, CallStatus
from domain.campaign import (
    CAMPAIGN_REGISTRATIONS,
    CallEnd,
    CampaignCost,
    CampaignPlan,
    CampaignRef,
    CampaignStatus,
    ClaimInput,
    ClaimResult,
    ContactState,
    Dial,
    FinishInput,
    RecordInput,
    RecordResult,
    WatchInput,
    asked_not_to_be_called,
    campaign_cost,
    fill_task,
    outcome_of,
    retry_delay,
)
from domain.claim import ClaimField, full_schema
from domain.contracts import CallInput
from domain.outcome import CallOutcome
from domain.usage import CallCost
from providers.store.base import CallStore

log = logging.getLogger(__name__)

# How often a watched call's stored state is read, and its workflow described.
WATCH_EVERY_SEC = 0.25
DESCRIBE_EVERY = 20
# A call workflow whose task failed this many times in a row is broken.
BROKEN_TASK_ATTEMPTS = 5
# An ended call's outcome may be saved a moment after its status: wait this long for it.
OUTCOME_GRACE_SEC = 3.0

_KINDS = {"Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD}
_KINDS["Int"] = IndexedValueType.INDEXED_VALUE_TYPE_INT


async def ensure_campaign_attributes(client: Client, namespace: str) -> bool:
    """Register the campaign search attributes when missing; False when they cannot be (a
    server that refuses, such as Temporal Cloud without admin rights): the campaign then runs
    without them."""
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        missing = {
            name: _KINDS[kind]
            for name, kind in CAMPAIGN_REGISTRATIONS.items()
            if name not in listed.custom_attributes
        }
        if missing:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
    except RPCError as exc:
        if exc.status == RPCStatusCode.ALREADY_EXISTS:
            return True
        log.warning("campaign search attributes not registered: %s", exc.message)
        return False
    return True


def build_call(
    record: CampaignRecord, phone_number: str, variables: dict[str, str]
) -> CallInitiate:
    """The call of one contact: the campaign's template with the contact's number and values.

    Raises:
        TemplateError, ValidationError: the contact's values do not fit the template.
    """
    base: dict[str, Any] = dict(record.base_call)
    # The configured fields and the policyholder's, as the call's claim has them.
    configured = [ClaimField.model_validate(field) for field in base.get("claim", [])]
    claim_fields = [field.name for field in full_schema(configured)]
    base["task"] = fill_task(str(base["task"]), variables, claim_fields)
    base["phone_number"] = phone_number
    # The values of claim fields start the call's claim (checked against the field's type).
    base["claim_prefill"] = {n: v for n, v in variables.items() if n in claim_fields and v}
    return CallInitiate.model_validate(base)


# Call states read at once when a campaign's cost is summed.
COST_READS = 16
# How long `campaign_cost` waits for the campaign's last calls to be priced.
COST_GRACE_SEC = 10.0


async def cost_of(campaigns: CampaignStore, calls: CallStore, campaign_id: str) -> CampaignCost:
    """The summed cost of every call the campaign placed (each attempt), from the calls'
    stored usage, and the cost per completed contact."""
    attempts = await campaigns.attempts(campaign_id)
    _, results = await campaigns.counts(campaign_id)
    gate = asyncio.Semaphore(COST_READS)

    async def read(call_id: str) -> CallCost | None:
        async with gate:
            call = await calls.get(call_id)
        return call.usage.cost if call is not None else None

    costs = await asyncio.gather(*(read(a.call_id) for a in attempts))
    return campaign_cost(list(costs), results.get(CallOutcome.COMPLETED.value, 0))


class CampaignActivities:
    def __init__(
        self, client: Client, campaigns: CampaignStore, calls: CallStore, settings: Settings
    ) -> None:
        self._client = client
        self._campaigns = campaigns
        self._calls = calls
        self._settings = settings
        self._attributes: bool | None = None

    async def _record(self, campaign_id: str) -> CampaignRecord:
        record = await self._campaigns.get(campaign_id)
        if record is None:
            raise LookupError(f"no campaign {campaign_id}")
        return record

    @activity.defn(name="campaign_plan")
    async def campaign_plan(self, input: CampaignRef) -> CampaignPlan:
        record = await self._record(input.campaign_id)
        if self._attributes is None:
            self._attributes = await ensure_campaign_attributes(
                self._client, self._settings.temporal.namespace
            )
        return CampaignPlan(
            status=record.status,
            concurrency=record.concurrency,
            starts_per_second=record.starts_per_second,
            total=record.total,
            search_attributes=self._attributes,
            rotate_after_events=self._settings.campaigns.rotate_after_events,
            webhook_url=record.webhook_url,
        )

    @activity.defn(name="claim_contacts")
    async def claim_contacts(self, input: ClaimInput) -> ClaimResult:
        """The next contacts to dial now, each with its call's input."""
        record = await self._record(input.campaign_id)
        claimed = await self._campaigns.claim(
            record, input.claim_id, input.now, input.limit, self._settings.calling_hours
        )
        phone = self._settings.telephony.kind != "none"
        dials = [
            Dial(
                seq=contact.seq,
                attempt=contact.attempt,
                call_id=contact.call_id,
                phone_key=contact.phone_key,
                call=CallInput(
                    call_id=contact.call_id,
                    initiate=build_call(record, contact.phone_number, contact.variables),
                    created_at=input.now,
                    channel="phone" if phone else "chat",
                ),
            )
            for contact in claimed
        ]
        states, _ = await self._campaigns.counts(input.campaign_id)
        return ClaimResult(
            dials=dials,
            next_due_at=await self._campaigns.next_due(input.campaign_id),
            open_contacts=states.get(ContactState.PENDING, 0)
            + states.get(ContactState.DIALLING, 0),
        )

    @activity.defn(name="watch_call")
    async def watch_call(self, input: WatchInput) -> CallEnd:
        """Wait until the call has ended (its stored state), and say how."""
        polls = 0
        ended_at: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            activity.heartbeat(polls)
            call = await self._calls.get(input.call_id)
            if call is not None and call.status is CallStatus.ENDED:
                has_outcome = getattr(call, "outcome", None) is not None
                if ended_at is None:
                    ended_at = loop.time()
                if has_outcome or loop.time() - ended_at >= OUTCOME_GRACE_SEC:
                    return CallEnd(outcome=outcome_of(call))
            polls += 1
            if polls % DESCRIBE_EVERY == 0 and await self._closed_without_end(input.call_id):
                call = await self._calls.get(input.call_id)
                ended = call is not None and call.status is CallStatus.ENDED
                return CallEnd(outcome=outcome_of(call) if ended and call else CallOutcome.FAILED)
            await asyncio.sleep(WATCH_EVERY_SEC)

    async def _closed_without_end(self, call_id: str) -> bool:
        """The call's workflow is over (failed, terminated...) though the call never ended."""
        handle = self._client.get_workflow_handle(attributes.workflow_id_for(call_id))
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return False  # not started yet
            raise
        if description.status not in (None, WorkflowExecutionStatus.RUNNING):
            return True
        # A workflow whose tasks keep failing (a bug, a non-determinism) never ends the call:
        # the campaign counts it as failed rather than hold the line for hours.
        task = description.raw_description.pending_workflow_task
        return task.attempt >= BROKEN_TASK_ATTEMPTS

    @activity.defn(name="record_attempt")
    async def record_attempt(self, input: RecordInput) -> RecordResult:
        """How a contact's attempt ended: done, or pending for a retry (and on the do-not-call
        list when the caller asked not to be called again)."""
        record = await self._record(input.campaign_id)
        call = await self._calls.get(input.call_id)
        do_not_call = call is not None and asked_not_to_be_called(call)
        recorded = await self._campaigns.record(
            input.campaign_id,
            input.seq,
            input.attempt,
            input.outcome,
            input.now,
            lambda outcome, attempt: retry_delay(outcome, attempt, record.retry),
            do_not_call,
        )
        return RecordResult(result=recorded.result, retry_at=recorded.retry_at)

    @activity.defn(name="finish_campaign")
    async def finish_campaign(self, input: FinishInput) -> dict[str, int]:
        """Close the campaign (a cancelled one's waiting contacts as cancelled); returns the
        final count of contacts by result."""
        if input.status is CampaignStatus.CANCELLED:
            await self._campaigns.cancel_pending(input.campaign_id, input.now)
        await self._campaigns.set_status(input.campaign_id, input.status, finished_at=input.now)
        _, results = await self._campaigns.counts(input.campaign_id)
        return results

    @activity.defn(name="campaign_cost")
    async def campaign_cost(self, input: CampaignRef) -> CampaignCost:
        """What the campaign's calls cost (for `campaign.completed`). A call's line is free
        once its stored status is ended, a moment before its priced usage is saved: the last
        calls get `COST_GRACE_SEC` to be priced (one whose pricing failed is left out)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + COST_GRACE_SEC
        while True:
            cost = await cost_of(self._campaigns, self._calls, input.campaign_id)
            if cost.unpriced_calls == 0 or loop.time() >= deadline:
                return cost
            activity.heartbeat(cost.unpriced_calls)
            await asyncio.sleep(WATCH_EVERY_SEC)

    @activity.defn(name="set_campaign_status")
    async def set_campaign_status(self, input: FinishInput) -> None:
        """Mirror a pause or a resume into the store (what `GET /campaigns/{id}` shows)."""
        await self._campaigns.set_status(input.campaign_id, input.status)


# Heartbeats of `watch_call` (it beats every WATCH_EVERY_SEC; a dead worker's watch moves on).
WATCH_HEARTBEAT = timedelta(seconds=30)
