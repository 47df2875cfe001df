"""Event Grid side: the subscription-validation handshake, then IncomingCall notifications."""

from __future__ import annotations

import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp

from acs_emulator.events import post_event
from acs_emulator.models import Delivery, ValidationRecord

log = logging.getLogger(__name__)

VALIDATION_EVENT = "Microsoft.EventGrid.SubscriptionValidationEvent"
INCOMING_CALL_EVENT = "Microsoft.Communication.IncomingCall"
SUBSCRIPTION = "ACS-EMULATOR-INCOMING-CALLS"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class EventGrid:
    """Delivers to one webhook per URL, validating each URL once before the first event."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        resource_id: str,
        base_url: Callable[[], str],
        timeout_s: Callable[[], float],
    ) -> None:
        self._http = http
        self._base_url = base_url
        self._timeout_s = timeout_s
        self.topic = (
            "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/acs-emulator"
            f"/providers/Microsoft.Communication/communicationServices/{resource_id}"
        )
        self.validations: list[ValidationRecord] = []
        self._validated: set[str] = set()
        self._manual: dict[str, str] = {}  # validation code -> url, for the validationUrl route

    def reset(self) -> None:
        self.validations.clear()
        self._validated.clear()
        self._manual.clear()

    def validate_manually(self, code: str) -> bool:
        """GET on the validationUrl: what an operator would do instead of echoing the code."""
        url = self._manual.pop(code, None)
        if url is None:
            return False
        self._validated.add(url)
        self.validations.append(
            ValidationRecord(url=url, ok=True, detail="validated via validationUrl", at=_dt())
        )
        return True

    async def ensure_validated(self, url: str) -> ValidationRecord:
        if url in self._validated:
            return ValidationRecord(url=url, ok=True, detail="already validated", at=_dt())
        code = secrets.token_hex(16).upper()
        self._manual[code] = url
        event = {
            "id": str(uuid.uuid4()),
            "topic": self.topic,
            "subject": "",
            "data": {
                "validationCode": code,
                "validationUrl": f"{self._base_url()}/_emulator/eventgrid/validate?code={code}",
            },
            "eventType": VALIDATION_EVENT,
            "eventTime": _now(),
            "metadataVersion": "1",
            "dataVersion": "2",
        }
        status, body, error = await self._post(url, event, "SubscriptionValidation")
        record = ValidationRecord(url=url, ok=False, status=status, at=_dt())
        if error is not None:
            record.detail = error
        elif status != 200:
            record.detail = f"answered {status}; Event Grid needs 200"
        else:
            try:
                answer = json.loads(body).get("validationResponse")
            except (ValueError, AttributeError):
                answer = None
            record.ok = answer == code
            record.detail = "" if record.ok else f"validationResponse {answer!r} != code"
        if record.ok:
            self._validated.add(url)
            self._manual.pop(code, None)
        else:
            log.warning("Event Grid validation of %s failed: %s", url, record.detail)
        self.validations.append(record)
        return record

    async def deliver_incoming_call(
        self, url: str, data: dict[str, Any], caller_raw: str, callee_raw: str
    ) -> Delivery:
        event = {
            "id": str(uuid.uuid4()),
            "topic": self.topic,
            "subject": f"/caller/{caller_raw}/recipient/{callee_raw}",
            "data": data,
            "eventType": INCOMING_CALL_EVENT,
            "dataVersion": "1.0",
            "metadataVersion": "1",
            "eventTime": _now(),
        }
        delivery = Delivery(url=url, sent_at=_dt())
        started = time.monotonic()
        status, _, error = await self._post(url, event, "Notification")
        delivery.status, delivery.error = status, error
        delivery.duration_ms = (time.monotonic() - started) * 1000
        return delivery

    async def _post(
        self, url: str, event: dict[str, Any], kind: str
    ) -> tuple[int | None, str, str | None]:
        headers = {
            "aeg-event-type": kind,
            "aeg-subscription-name": SUBSCRIPTION,
            "aeg-delivery-count": "0",
            "aeg-data-version": str(event.get("dataVersion", "")),
            "aeg-metadata-version": "1",
        }
        try:
            status, text = await post_event(self._http, url, event, headers, self._timeout_s())
            return status, text, None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return None, "", f"{type(exc).__name__}: {exc}"


def _dt() -> datetime:
    return datetime.now(UTC)
