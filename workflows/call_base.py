"""State and helpers shared by the parts of `CallWorkflow` (runs inside the workflow)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.flags import FlagActivities
    from activities.speech import SpeechActivities
    from activities.store import StoreActivities
    from domain import attributes
    from domain.call import CallState, Message
    from domain.claim import progress
    from domain.contracts import ReadFlagsInput, SaveCallInput, SpeakInput, SpeakKind
    from domain.flags import FeatureFlags
    from domain.phone import mask
    from workflows import patches, policies

_R = TypeVar("_R")
_I = TypeVar("_I")
# An activity as a method of its class: its type name, input and result types come from it,
# so a renamed activity or a changed input type fails type-checking.
Activity = Callable[[Any, _I], Awaitable[_R]]

# Flags change at run time; a call sees a change within this delay, like the flag cache.
FLAGS_MAX_AGE = timedelta(seconds=60)


def summary_for(state: CallState) -> str:
    """Static summary shown in the Temporal UI list: direction, number, company and bot."""
    direction = "Outbound call to" if state.direction == "outbound" else "Inbound call from"
    initiate = state.initiate
    return (
        f"{direction} {mask(initiate.phone_number)}, {initiate.bot_company} / {initiate.bot_name}"
    )


def details_for(state: CallState) -> str:
    """Markdown shown as "current details" in the Temporal UI: status and claim progress."""
    schema = state.claim_schema()
    filled, total = progress(state.claim, schema)
    lines = [f"**{state.status.value}** · turn {state.last_turn_id} · claim {filled}/{total}", ""]
    for field in schema:
        value = state.claim.get(field.name)
        lines.append(f"- {'✅' if value else '⬜'} {field.name}" + (f": {value}" if value else ""))
    if state.reminders:
        lines.append("")
        lines.extend(f"- ⏰ {r.title} ({r.due_date_time.isoformat()})" for r in state.reminders)
    return "\n".join(lines)


class CallBase:
    """The call state plus the activity helpers every part of the workflow uses."""

    call: CallState
    _flags: FeatureFlags
    _flags_read_at: datetime | None
    _shown: tuple[str, int] | None
    # Copies of the messages the store holds since this run's last save (none at first).
    _saved: tuple[Message, ...] = ()

    async def _activity(self, activity: Activity[_I, _R], input: _I) -> _R:
        return await workflow.execute_activity_method(
            activity,
            input,
            start_to_close_timeout=policies.QUICK,
            retry_policy=policies.QUICK_RETRY,
        )

    async def _action(self, activity: Activity[_I, None], input: _I) -> None:
        """An activity with no result (call control)."""
        await workflow.execute_activity_method(
            activity,
            input,
            start_to_close_timeout=policies.QUICK,
            retry_policy=policies.QUICK_RETRY,
        )

    async def _speak(self, turn_id: int, text: str, kind: SpeakKind) -> None:
        await workflow.execute_activity_method(
            SpeechActivities.speak,
            SpeakInput(
                call_id=self.call.call_id,
                turn_id=turn_id,
                text=text,
                kind=kind,
                lang=self.call.lang.short_code,
            ),
            start_to_close_timeout=policies.QUICK,
            retry_policy=policies.QUICK_RETRY,
        )

    async def _speak_guarded(self, turn_id: int, text: str, kind: SpeakKind) -> bool:
        """Speak a static phrase; False when the stream did not take it (Redis down): a phrase
        never costs the caller's words or the turn."""
        try:
            await self._speak(turn_id, text, kind)
        except ActivityError as exc:
            workflow.logger.warning("%s phrase not spoken: %s", kind, exc.cause)
            return False
        return True

    def _patches_up_front(self) -> None:
        """Decide every patch of the call now, before any local activity (`PATCHES_UP_FRONT`):
        later `patched()` calls return the same answer and record nothing."""
        if workflow.patched(patches.PATCHES_UP_FRONT):
            for patch_id in patches.CALL_PATCHES:
                workflow.patched(patch_id)

    async def _refresh_flags(self) -> None:
        """Read the live flags at most once per `FLAGS_MAX_AGE` (a local activity)."""
        now = workflow.now()
        if self._flags_read_at is not None and now - self._flags_read_at < FLAGS_MAX_AGE:
            return
        if not workflow.patched(patches.FLAGS_FALLBACK):
            self._flags = await workflow.execute_local_activity_method(
                FlagActivities.read_flags,
                ReadFlagsInput(),
                start_to_close_timeout=policies.FLAGS_TIMEOUT,
            )
            self._flags_read_at = now
            return
        try:
            self._flags = await workflow.execute_local_activity_method(
                FlagActivities.read_flags,
                ReadFlagsInput(),
                start_to_close_timeout=policies.FLAGS_TIMEOUT,
                retry_policy=policies.FLAGS_RETRY,
            )
        except ActivityError as exc:
            # Read again on the next turn, not after FLAGS_MAX_AGE.
            workflow.logger.warning("flags not read, the last ones kept: %s", exc.cause)
            return
        self._flags_read_at = now

    async def _save(self) -> None:
        self.call.updated_at = workflow.now()
        self._show_progress()
        if workflow.patched(patches.SAVE_CHANGED_MESSAGES):
            await self._save_changes()
            return
        # A local activity: its input (the whole state) is not written to history, and it
        # needs no server round trip; only its completion marker is recorded.
        await workflow.execute_local_activity_method(
            StoreActivities.save_call,
            SaveCallInput(call=self.call),
            start_to_close_timeout=policies.QUICK,
            retry_policy=policies.SAVE_RETRY,
        )

    async def _save_changes(self) -> None:
        """Save the state with the messages from the first one changed since the last save.

        The Temporal core keeps every local activity's input until the run leaves the worker's
        cache: the whole state on every turn grew each worker by the square of a call's turns
        (+160 % in the 20-minute soak, `bench/soak.py`). The first save of a run sends it all,
        and so does a save whose store lost what the last one stored.
        """
        start = self._first_changed()
        sent = tuple(m.model_copy(deep=True) for m in self.call.messages[start:])
        try:
            await self._save_from(start)
        except (ActivityError, ApplicationError) as exc:
            # A local activity's non-retryable error arrives as it is, not as an ActivityError.
            error = exc.cause if isinstance(exc, ActivityError) else exc
            if not (isinstance(error, ApplicationError) and error.type == "StoreBehind"):
                raise
            workflow.logger.warning("the store is behind this call: saving the whole state")
            start, sent = 0, tuple(m.model_copy(deep=True) for m in self.call.messages)
            await self._save_from(0)
        # Copies: a message can change in place later (a barge-in cuts the answer heard).
        self._saved = (*self._saved[:start], *sent)

    def _first_changed(self) -> int:
        """The index of the first message that differs from what the last save stored."""
        pairs = zip(self._saved, self.call.messages, strict=False)  # as long as the shorter
        for index, (saved, message) in enumerate(pairs):
            if saved != message:
                return index
        return min(len(self._saved), len(self.call.messages))

    async def _save_from(self, start: int) -> None:
        tail = self.call.model_copy(update={"messages": self.call.messages[start:]})
        await workflow.execute_local_activity_method(
            StoreActivities.save_call,
            SaveCallInput(call=tail, messages_from=start),
            start_to_close_timeout=policies.QUICK,
            retry_policy=policies.SAVE_RETRY,
        )

    def _show_progress(self) -> None:
        """Search attributes (only when they changed: each upsert is a history event and a
        visibility write) and the current details of the Temporal UI."""
        filled, _ = progress(self.call.claim, self.call.claim_schema())
        shown = (self.call.status.value, filled)
        if shown != self._shown:
            # CallPhoneNumber is left as the starter set it: a keyed hash, whose key stays out
            # of workflow code (an upsert's values are not checked on replay, only its kind).
            workflow.upsert_search_attributes(
                [
                    attributes.STATUS.value_set(self.call.status.value),
                    attributes.CLAIM_FILLED.value_set(filled),
                    attributes.BOT_NAME.value_set(self.call.initiate.bot_name),
                ]
            )
            self._shown = shown
        workflow.set_current_details(details_for(self.call))
