"""Callback CloudEvents: their shape, and one ordered sender per call."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp

from acs_emulator.auth import TokenSigner
from acs_emulator.ids import event_time
from acs_emulator.models import Delivery, EventRecord, ResultInfo
from acs_emulator.results import as_json

log = logging.getLogger(__name__)

# A connection that failed before an answer (refused, or a pooled keep-alive connection the
# receiver closed as the event went out) is tried again after these pauses, backing off over
# ~15 s as a real sender does (ACS documents no schedule: an app must not count on more); an
# HTTP error status is an answer and is not. A receiver down for longer loses the event: the
# workflow reconciles with GET /calling/callConnections/{id}.
RESEND_AFTER_S = (0.5, 1.0, 2.0, 4.0, 8.0)


def cloud_event(
    *,
    name: str,
    connection_id: str,
    server_call_id: str,
    correlation_id: str,
    version: str,
    fields: dict[str, Any] | None = None,
    operation_context: str | None = None,
    result: ResultInfo | None = None,
    source: str | None = None,
    moment: datetime | None = None,
) -> dict[str, Any]:
    """One event as the service posts it (key order as in the recordings)."""
    data: dict[str, Any] = dict(fields or {})
    if operation_context is not None:
        data["operationContext"] = operation_context
    data["version"] = version
    if result is not None:
        data["resultInformation"] = as_json(result)
    data["callConnectionId"] = connection_id
    data["serverCallId"] = server_call_id
    data["correlationId"] = correlation_id
    data["publicEventType"] = f"Microsoft.Communication.{name}"
    source = source or f"calling/callConnections/{connection_id}"
    return {
        "id": str(uuid.uuid4()),
        "source": source,
        "type": f"Microsoft.Communication.{name}",
        "data": data,
        "time": event_time(moment),
        "specversion": "1.0",
        "datacontenttype": "application/json",
        "subject": source,
    }


class EventSender:
    """Posts a call's events one at a time, in order, each with a fresh callback JWT."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        signer: TokenSigner,
        timeout_s: Callable[[], float],
        on_change: Callable[[], None],
        resend_after_s: tuple[float, ...] = RESEND_AFTER_S,
    ) -> None:
        self._http = http
        self._resend_after_s = resend_after_s
        self._signer = signer
        self._timeout_s = timeout_s
        self._on_change = on_change
        self._queue: asyncio.Queue[tuple[EventRecord, str, dict[str, Any]] | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="acs-emulator-events")

    def send(self, record: EventRecord, url: str, event: dict[str, Any]) -> None:
        self._queue.put_nowait((record, url, event))

    async def close(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued (up to timeout_s), then stop."""
        self._queue.put_nowait(None)
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        self.cancel()

    def cancel(self) -> None:
        self._task.cancel()

    async def _run(self) -> None:
        while (item := await self._queue.get()) is not None:
            record, url, event = item
            record.delivery = await self._post(url, event)
            self._on_change()

    async def _post(self, url: str, event: dict[str, Any]) -> Delivery:
        delivery = Delivery(url=url, sent_at=datetime.now(UTC))
        started = time.monotonic()
        for pause in (*self._resend_after_s, None):
            try:
                delivery.status = await self._send_once(url, event)
                delivery.error = None
                break
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                delivery.error = f"{type(exc).__name__}: {exc}"
                # A timeout may have been received: only a connection that failed is resent.
                lost = isinstance(exc, aiohttp.ClientConnectionError) and not isinstance(
                    exc, TimeoutError
                )
                if not lost or pause is None:
                    log.warning("callback %s to %s failed: %s", event["type"], url, delivery.error)
                    break
                delivery.attempts += 1
                await asyncio.sleep(pause)
        delivery.duration_ms = (time.monotonic() - started) * 1000
        return delivery

    async def _send_once(self, url: str, event: dict[str, Any]) -> int:
        auth = {"Authorization": f"Bearer {self._signer.token()}"}
        status, _ = await post_event(self._http, url, event, auth, self._timeout_s())
        return status


async def post_event(
    http: aiohttp.ClientSession,
    url: str,
    event: dict[str, Any],
    headers: dict[str, str],
    timeout_s: float,
) -> tuple[int, str]:
    """POST `event` as a one-event JSON array: the answer's status and text. Raises
    `aiohttp.ClientError` or `TimeoutError` when no answer came."""
    async with http.post(
        url,
        data=json.dumps([event]),
        headers={"Content-Type": "application/json", **headers},
        timeout=aiohttp.ClientTimeout(total=timeout_s),
    ) as response:
        return response.status, await response.text()
