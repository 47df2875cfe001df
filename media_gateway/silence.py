"""Silence watch: tells the workflow when the caller stays silent (it prompts, then says
goodbye). Caller speech, bot audio and turns are activity; the watch polls, cheaply."""

from __future__ import annotations

import asyncio
import logging

from media_gateway.call_context import CallContext

log = logging.getLogger(__name__)

SILENCE_POLL_SEC = 0.25


class SilenceWatch:
    def __init__(self, call: CallContext) -> None:
        self._call = call
        self.last_activity = call.clock()  # caller speech, bot audio or a turn: not silence
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._watch())

    def activity(self, at: float | None = None) -> None:
        """Something happened on the line (at monotonic `at`, or now)."""
        self.last_activity = self._call.clock() if at is None else at

    async def _watch(self) -> None:
        call = self._call
        while True:
            await asyncio.sleep(SILENCE_POLL_SEC)
            quiet = call.clock() - self.last_activity
            if quiet >= call.flags.phone_silence_timeout_sec and not call.speaking():
                self.last_activity = call.clock()
                try:
                    await call.control.caller_silent()
                except Exception:  # the call may be ending; the next poll tries again
                    log.warning("call %s: silence not signalled", call.call_id, exc_info=True)
