"""Reading the live feature flags (a local activity: the result is recorded in history)."""

from __future__ import annotations

from temporalio import activity

from domain.contracts import ReadFlagsInput
from domain.flags import FeatureFlags
from providers.flags.base import FlagSource


class FlagActivities:
    def __init__(self, flags: FlagSource) -> None:
        self._flags = flags

    @activity.defn(name="read_flags")
    async def read_flags(self, input: ReadFlagsInput) -> FeatureFlags:  # noqa: ARG002
        return await self._flags.get()
