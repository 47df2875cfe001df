"""`CampaignWorkflow`: one per outbound campaign. Claims due contacts from the campaign store
(a page at a time, as many as there are free lines), starts one `CallWorkflow` per attempt as
a child, watches each call until it ends, records how it ended (retry or done), and sleeps on
a durable timer until the next contact is due (a retry, or a contact's calling hours).

Its input and state hold ids and counts only (contacts and numbers stay in the store), and it
continues as new every few thousand events, carrying the calls in flight (at most the
concurrency limit): a campaign of 10,000 contacts keeps a bounded history. The children are
abandoned on close (`ParentClosePolicy.ABANDON`): a call goes on whatever happens to the
campaign's run, and the next run watches it again.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from pydantic import JsonValue
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.campaign import WATCH_HEARTBEAT, CampaignActivities
    from domain import attributes
    from domain.call import CallState
    from domain.campaign import (
        CAMPAIGN_DONE,
        CAMPAIGN_ID,
        CAMPAIGN_STATUS,
        CallEnd,
        CampaignInput,
        CampaignPlan,
        CampaignProgress,
        CampaignRef,
        CampaignStatus,
        ClaimInput,
        ClaimResult,
        Dial,
        FinishInput,
        InFlight,
        RecordInput,
        WatchInput,
    )
    from domain.outcome import CallOutcome
    from domain.webhooks import EventType, campaign_event
    from workflows import patches, policies
    from workflows.call import CallWorkflow
    from workflows.webhooks import WebhookOutbox

# The campaign's search attributes are refreshed at most this often (each upsert is an action).
ATTRIBUTES_EVERY = timedelta(seconds=10)
# The children's workflow task timeout (`core.temporal.WORKFLOW_TASK_TIMEOUT`, not imported:
# that module holds the codec).
CHILD_TASK_TIMEOUT = timedelta(seconds=1)
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30)
)
# Watching lasts as long as the call (the heartbeat moves it off a dead worker). A call not
# ended after this long (its workflow stuck) counts as failed: the campaign goes on.
WATCH_TIMEOUT = timedelta(hours=6)


@workflow.defn
class CampaignWorkflow:
    @workflow.init
    def __init__(self, input: CampaignInput) -> None:
        carry = input.carry
        self.campaign_id = input.campaign_id
        self._carry = carry
        self._in_flight: dict[str, InFlight] = {f.call_id: f for f in carry.in_flight}
        self._paused = carry.paused
        self._cancelled = carry.cancelled
        self._poke = False  # something changed: the main loop looks again
        self._plan: CampaignPlan | None = None
        self._claims = 0
        self._shown_at: datetime | None = None
        self._shown: tuple[str, int] | None = None
        self._finished: CampaignStatus | None = None
        self._webhooks = WebhookOutbox()
        self._events = False  # decided at the start of the run (patch `campaign-webhooks`)
        self._costed = False  # the same (patch `campaign-cost`)

    # --- signals and query ---------------------------------------------------------------------

    @workflow.signal
    def pause(self) -> None:
        """No new dials until `resume`; the calls in progress go on."""
        self._paused = True
        self._poke = True

    @workflow.signal
    def resume(self) -> None:
        self._paused = False
        self._poke = True

    @workflow.signal
    def cancel(self) -> None:
        """No new dials ever; the calls in progress finish, the others are cancelled."""
        self._cancelled = True
        self._poke = True

    @workflow.signal
    def contacts_added(self) -> None:
        """More contacts in the store: claim now rather than at the next due time."""
        self._poke = True

    @workflow.query(name="progress")
    def progress(self) -> CampaignProgress:
        return CampaignProgress(
            campaign_id=self.campaign_id,
            status=self._status(),
            in_flight=len(self._in_flight),
            max_in_flight=self._carry.max_in_flight,
            dials=self._carry.dials,
            results=dict(self._carry.results),
            runs=self._carry.runs,
        )

    # --- main loop -----------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: CampaignInput) -> CampaignProgress:
        # Decided before any command: a history recorded before the patch replays without it.
        self._events = workflow.patched(patches.CAMPAIGN_WEBHOOKS)
        self._costed = self._events and workflow.patched(patches.CAMPAIGN_COST)
        self._plan = plan = await workflow.execute_activity_method(
            CampaignActivities.campaign_plan,
            CampaignRef(campaign_id=input.campaign_id),
            start_to_close_timeout=policies.QUICK,
            retry_policy=STORE_RETRY,
        )
        if plan.status in (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED):
            return self.progress()  # started again after it finished: nothing to do
        for flight in list(self._in_flight.values()):
            self._follow(flight, None)  # calls placed by the previous run
        if self._carry.runs == 1:
            self._event("campaign.started", facts={"status": self._status().value})
        paused_shown = self._paused
        while True:
            # Reset before looking, never in `_wait`: a call ending while a claim runs pokes,
            # and that poke must wake the wait that follows (or the campaign sleeps forever).
            self._poke = False
            if self._paused != paused_shown and not self._cancelled:
                paused_shown = self._paused
                await self._mirror_status()
                self._carry.status_changes += 1
                change: EventType = "campaign.paused" if self._paused else "campaign.resumed"
                self._event(change, seq=self._carry.status_changes)
            self._show()
            if self._cancelled:
                break
            if self._should_rotate():
                await self._rotate()
            wake: datetime | None = None
            if not self._paused and len(self._in_flight) < plan.concurrency:
                claim = await self._claim(plan.concurrency - len(self._in_flight))
                if claim.dials:
                    await self._start(claim.dials, plan)
                    continue  # more may be due at once
                if claim.open_contacts == 0 and not self._in_flight:
                    break  # everyone accounted for
                wake = claim.next_due_at
            await self._wait(wake)
        # Cancelled or done: the calls in progress end on their own; wait to record them.
        await workflow.wait_condition(lambda: not self._in_flight)
        final = CampaignStatus.CANCELLED if self._cancelled else CampaignStatus.COMPLETED
        self._carry.results = await workflow.execute_activity_method(
            CampaignActivities.finish_campaign,
            FinishInput(campaign_id=self.campaign_id, status=final, now=workflow.now()),
            start_to_close_timeout=policies.QUICK,
            retry_policy=STORE_RETRY,
        )
        self._finished = final
        self._show(force=True)
        facts: dict[str, JsonValue] = {
            "results": dict(self._carry.results),
            "runs": self._carry.runs,
        }
        if self._costed:
            cost = await workflow.execute_activity_method(
                CampaignActivities.campaign_cost,
                CampaignRef(campaign_id=self.campaign_id),
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=STORE_RETRY,
            )
            facts["cost"] = cost.model_dump(mode="json")
        self._event("campaign.cancelled" if self._cancelled else "campaign.completed", facts=facts)
        await self._webhooks.flush()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.progress()

    def _event(
        self, type: EventType, *, seq: int = 0, facts: dict[str, JsonValue] | None = None
    ) -> None:
        """A `campaign.*` event to the deployment's endpoints and the campaign's own
        `webhook_url` (enqueued in the background, awaited before the run closes or continues
        as new). Its id is the campaign's and the type's (and `seq`, the status change it is):
        a replay or a retried task enqueues it once. Facts are ids and counts, no number."""
        if not self._events or self._plan is None:
            return
        done = sum(self._carry.results.values())
        self._webhooks.send(
            campaign_event(
                self.campaign_id,
                type,
                workflow.now(),
                seq=seq,
                url=self._plan.webhook_url,
                contacts=self._plan.total,
                done=done,
                in_flight=len(self._in_flight),
                dials=self._carry.dials,
                max_in_flight=self._carry.max_in_flight,
                **(facts or {}),
            )
        )

    def _status(self) -> CampaignStatus:
        if self._finished is not None:
            return self._finished
        if self._cancelled:
            return CampaignStatus.CANCELLING
        return CampaignStatus.PAUSED if self._paused else CampaignStatus.RUNNING

    async def _wait(self, wake: datetime | None) -> None:
        """Until a call ends, a signal comes, or the next contact is due (a poke since the
        loop last looked returns at once)."""
        timeout = None
        if wake is not None:
            timeout = max(wake - workflow.now(), timedelta(seconds=1))
        try:
            await workflow.wait_condition(lambda: self._poke, timeout=timeout)
        except TimeoutError:
            pass

    async def _claim(self, limit: int) -> ClaimResult:
        self._claims += 1
        return await workflow.execute_activity_method(
            CampaignActivities.claim_contacts,
            ClaimInput(
                campaign_id=self.campaign_id,
                # Same id on a retried activity: the same contacts come back.
                claim_id=f"{workflow.info().run_id}/{self._claims}",
                now=workflow.now(),
                limit=limit,
            ),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=STORE_RETRY,
        )

    async def _start(self, dials: list[Dial], plan: CampaignPlan) -> None:
        """Start the calls, paced at `starts_per_second` when the campaign sets it."""
        pace = timedelta(seconds=1 / plan.starts_per_second) if plan.starts_per_second else None
        for index, dial in enumerate(dials):
            if index and pace is not None:
                await workflow.sleep(pace)
            flight = InFlight(seq=dial.seq, attempt=dial.attempt, call_id=dial.call_id)
            self._in_flight[dial.call_id] = flight
            self._carry.dials += 1
            self._carry.max_in_flight = max(self._carry.max_in_flight, len(self._in_flight))
            started = await self._start_child(dial, plan)
            self._follow(flight, started)

    async def _start_child(
        self, dial: Dial, plan: CampaignPlan
    ) -> workflow.ChildWorkflowHandle[CallWorkflow, CallState] | None:
        pairs = [SearchAttributePair(attributes.PHONE_NUMBER, dial.phone_key)]
        if plan.search_attributes:
            pairs.append(SearchAttributePair(CAMPAIGN_ID, self.campaign_id))
        try:
            return await workflow.start_child_workflow(
                CallWorkflow.run,
                dial.call,
                id=attributes.workflow_id_for(dial.call_id),
                task_timeout=CHILD_TASK_TIMEOUT,
                # The call goes on whatever becomes of this run (continue-as-new, cancel).
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                search_attributes=TypedSearchAttributes(pairs),
                static_summary=f"Campaign {self.campaign_id} · contact {dial.seq} · "
                f"attempt {dial.attempt}",
            )
        except WorkflowAlreadyStartedError:
            return None  # placed by an earlier run: watched like the others

    def _follow(
        self,
        flight: InFlight,
        child: workflow.ChildWorkflowHandle[CallWorkflow, CallState] | None,
    ) -> None:
        async def follow() -> None:
            end = await self._watch(flight, child)
            recorded = await workflow.execute_activity_method(
                CampaignActivities.record_attempt,
                RecordInput(
                    campaign_id=self.campaign_id,
                    seq=flight.seq,
                    attempt=flight.attempt,
                    call_id=flight.call_id,
                    outcome=end.outcome,
                    now=workflow.now(),
                ),
                start_to_close_timeout=policies.QUICK,
                retry_policy=STORE_RETRY,
            )
            if recorded.result is not None:
                key = recorded.result.value
                self._carry.results[key] = self._carry.results.get(key, 0) + 1
            del self._in_flight[flight.call_id]
            self._poke = True

        asyncio.create_task(follow())  # noqa: RUF006 (the main loop waits on _in_flight)

    async def _watch(
        self,
        flight: InFlight,
        child: workflow.ChildWorkflowHandle[CallWorkflow, CallState] | None,
    ) -> CallEnd:
        """The call's end from its stored state; a child that fails first ends it as failed."""
        watch = workflow.start_activity_method(
            CampaignActivities.watch_call,
            WatchInput(call_id=flight.call_id),
            start_to_close_timeout=WATCH_TIMEOUT,
            schedule_to_close_timeout=WATCH_TIMEOUT,
            heartbeat_timeout=WATCH_HEARTBEAT,
            retry_policy=STORE_RETRY,
        )
        try:
            return await self._watched(watch, flight, child)
        except ActivityError as exc:
            workflow.logger.warning("call %s not seen ending: %s", flight.call_id, exc.cause)
            return CallEnd(outcome=CallOutcome.FAILED)

    async def _watched(
        self,
        watch: workflow.ActivityHandle[CallEnd],
        flight: InFlight,
        child: workflow.ChildWorkflowHandle[CallWorkflow, CallState] | None,
    ) -> CallEnd:
        if child is None:
            return await watch
        await workflow.wait_condition(lambda: watch.done() or child.done())
        if watch.done():
            return await watch
        try:
            child.result()
        except Exception as exc:  # noqa: BLE001 (any failure of the call's workflow: failed)
            workflow.logger.warning("call %s failed: %s", flight.call_id, exc)
            watch.cancel()
            with contextlib.suppress(ActivityError):
                await watch
            return CallEnd(outcome=CallOutcome.FAILED)
        try:
            return await watch  # completed: its stored state says how the call ended
        except ActivityError:
            return CallEnd(outcome=CallOutcome.FAILED)

    # --- history, status --------------------------------------------------------------------

    def _should_rotate(self) -> bool:
        info = workflow.info()
        limit = self._plan.rotate_after_events if self._plan else 0
        return info.is_continue_as_new_suggested() or (
            0 < limit < info.get_current_history_length()
        )

    async def _rotate(self) -> None:
        """Continue as new with only the calls in flight and the counts."""
        self._show(force=True)
        await self._webhooks.flush()
        await workflow.wait_condition(workflow.all_handlers_finished)
        carry = self._carry.model_copy(
            update={
                "in_flight": list(self._in_flight.values()),
                "paused": self._paused,
                "cancelled": self._cancelled,
                "runs": self._carry.runs + 1,
            }
        )
        workflow.continue_as_new(CampaignInput(campaign_id=self.campaign_id, carry=carry))

    async def _mirror_status(self) -> None:
        await workflow.execute_activity_method(
            CampaignActivities.set_campaign_status,
            FinishInput(campaign_id=self.campaign_id, status=self._status(), now=workflow.now()),
            start_to_close_timeout=policies.QUICK,
            retry_policy=STORE_RETRY,
        )

    def _show(self, *, force: bool = False) -> None:
        """Progress in the UI (current details) and in the search attributes (throttled)."""
        status = self._status()
        done = sum(self._carry.results.values())
        workflow.set_current_details(
            f"**{status.value}** · {done} of {self._plan.total if self._plan else '?'} contacts"
            f" done · {len(self._in_flight)} calls in progress · {self._carry.dials} dials"
        )
        if self._plan is None or not self._plan.search_attributes:
            return
        shown = (status.value, done)
        now = workflow.now()
        if shown == self._shown:
            return
        status_changed = self._shown is None or shown[0] != self._shown[0]
        recent = self._shown_at is not None and now - self._shown_at < ATTRIBUTES_EVERY
        if recent and not force and not status_changed:
            return
        self._shown, self._shown_at = shown, now
        workflow.upsert_search_attributes(
            [CAMPAIGN_STATUS.value_set(status.value), CAMPAIGN_DONE.value_set(done)]
        )
