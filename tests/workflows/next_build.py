"""The "next build" of both workflows, for the deploy test: the same types under the same
names, each with one change to its command sequence, guarded by `workflow.patched()` the way
docs/deploy.md ("Changing workflow code safely") tells to ship it, and the same change unguarded.

Kept apart from the test module: the workflow sandbox re-imports a workflow's module, and this
one imports nothing but the workflows.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.call import CallState, Reminder
    from domain.contracts import CallInput, ReminderInput, TurnReply
    from workflows.call import CallWorkflow
    from workflows.reminder import ReminderWorkflow

CALL_PATCH = "deploy-test-hold-phrase"
REMINDER_PATCH = "deploy-test-report-scheduled"
HOLD_PHRASE = "One moment, I am looking into it."


@workflow.defn(name="CallWorkflow")
class PatchedCallWorkflow(CallWorkflow):
    """New: a hold phrase spoken before each answer (one more `speak` activity per turn)."""

    @workflow.init
    def __init__(self, input: CallInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: CallInput) -> CallState:
        return await super().run(input)

    async def _answer(self, turn_id: int, *args: Any, **kwargs: Any) -> TurnReply:
        if workflow.patched(CALL_PATCH):
            await self._speak(turn_id, HOLD_PHRASE, "filler")
        return await super()._answer(turn_id, *args, **kwargs)


@workflow.defn(name="ReminderWorkflow")
class PatchedReminderWorkflow(ReminderWorkflow):
    """New: the reminder reports itself scheduled to its call before it sleeps."""

    @workflow.init
    def __init__(self, input: ReminderInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: ReminderInput) -> Reminder:
        if workflow.patched(REMINDER_PATCH):
            await self._report()
        return await super().run(input)


@workflow.defn(name="CallWorkflow")
class UnguardedCallWorkflow(CallWorkflow):
    """The same change as `PatchedCallWorkflow`, shipped without `patched()`."""

    @workflow.init
    def __init__(self, input: CallInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: CallInput) -> CallState:
        return await super().run(input)

    async def _answer(self, turn_id: int, *args: Any, **kwargs: Any) -> TurnReply:
        await self._speak(turn_id, HOLD_PHRASE, "filler")
        return await super()._answer(turn_id, *args, **kwargs)


@workflow.defn(name="ReminderWorkflow")
class UnguardedReminderWorkflow(ReminderWorkflow):
    """The same change as `PatchedReminderWorkflow`, shipped without `patched()`."""

    @workflow.init
    def __init__(self, input: ReminderInput) -> None:
        super().__init__(input)

    @workflow.run
    async def run(self, input: ReminderInput) -> Reminder:
        await self._report()
        return await super().run(input)
