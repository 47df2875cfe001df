"""Calling hours for workflows that cannot read the settings (reminders): when may this callee
be rung? The deployment's window (`calling_hours` in the settings), in the callee's zone."""

from __future__ import annotations

import logging
from datetime import datetime

from pydantic import BaseModel
from temporalio import activity

from domain.calling_hours import CallingWindow, NeverOpen, effective, next_open, zone

log = logging.getLogger(__name__)


class CallingSlotInput(BaseModel):
    """The callee's zone (worked out from their number by the workflow), never the number."""

    tz: str
    at: datetime  # the workflow's now
    # The call's own window (`CallInitiate.calling_hours`), over the deployment's.
    window: CallingWindow | None = None


class CallingSlot(BaseModel):
    opens_at: datetime  # `at` itself when the window is open now, or when there is none


class CallingHoursActivities:
    def __init__(self, window: CallingWindow | None) -> None:
        self._window = window

    @activity.defn(name="calling_slot")
    async def calling_slot(self, input: CallingSlotInput) -> CallingSlot:
        """The first instant at or after `at` inside the call's calling hours, else the
        deployment's."""
        try:
            opens = next_open(input.at, effective(input.window, self._window), zone(input.tz))
        except NeverOpen:
            log.warning("the calling hours never open: calling at once")
            opens = input.at
        return CallingSlot(opens_at=opens)
