"""Activity `price_call`: a call's Temporal actions, counted from its history, and its cost.

Actions follow Temporal Cloud's rules (`shared/reference/operations.md` §5.3): a start, each
activity attempt, a timer, a signal, an accepted update, a search-attribute upsert, a child
start (2), the local activities of one workflow task (1). Every run since the call began is
counted (continue-as-new links them). Queries leave no trace in history and are not counted.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from domain.prices import PriceTable
from domain.usage import CallUsage, PriceCallInput, price

LOCAL_ACTIVITY_MARKER = "core_local_activity"
# Runs followed back through continue-as-new: a call's history is bounded by its turns.
MAX_RUNS = 100

_ONE_ACTION = frozenset(
    {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        EventType.EVENT_TYPE_TIMER_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
        EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    }
)


def count_actions(events: list[HistoryEvent]) -> int:
    """Billable actions of one run's history."""
    actions = 0
    local_tasks: set[int] = set()
    for event in events:
        kind = event.event_type
        if kind in _ONE_ACTION:
            actions += 1
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            # The history keeps the last attempt's start: earlier attempts were each an action.
            actions += max(0, event.activity_task_started_event_attributes.attempt - 1)
        elif kind == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            actions += 2
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == LOCAL_ACTIVITY_MARKER:
                local_tasks.add(marker.workflow_task_completed_event_id)
    return actions + len(local_tasks)


class UsageActivities:
    def __init__(self, client: Client, prices: PriceTable) -> None:
        self._client = client
        self._prices = prices

    @activity.defn(name="price_call")
    async def price_call(self, input: PriceCallInput) -> CallUsage:
        actions = input.actions_after
        run_id: str | None = input.run_id
        for _ in range(MAX_RUNS):
            if not run_id:
                break
            handle = self._client.get_workflow_handle(input.workflow_id, run_id=run_id)
            events = [event async for event in handle.fetch_history_events()]
            actions += count_actions(events)
            started = events[0].workflow_execution_started_event_attributes if events else None
            run_id = started.continued_execution_run_id if started is not None else None
        usage = input.usage.model_copy(update={"temporal_actions": actions})
        return usage.model_copy(update={"cost": price(usage, self._prices, phone=input.phone)})
