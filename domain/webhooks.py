"""Webhooks to the customer's systems, in the Standard Webhooks shape (pure domain code).

An event is small and carries no secret: its id (the `webhook-id` header, the same on every
attempt and to every endpoint, so the receiver dedupes on it), its type, when it happened, the
call it is about (the delivery adds the call's data from the store when it sends), a few facts
known only at that moment, and optionally the call's or campaign's own endpoint.

That endpoint is kept in workflow history, so it must hold no credential: a URL with a user or
password, a query string or a fragment is refused (422 at `POST /call`), never silently
stripped — a stripped URL would reach the receiver without the token it expects. Deliveries to
it are signed with the deployment's `webhooks.secret`, which only the worker's settings hold.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, JsonValue, field_validator

if TYPE_CHECKING:
    from domain.call import CallState
    from domain.usage import CallUsage

EventType = Literal[
    "call.started",
    "call.connected",
    "call.ended",
    "call.analyzed",
    "reminder.scheduled",
    "reminder.fired",
    "reminder.completed",
    "reminder.sent",
    "reminder.retrying",
    "reminder.failed",
    "reminder.cancelled",
    "campaign.started",
    "campaign.progress",
    "campaign.paused",
    "campaign.resumed",
    "campaign.completed",
    "campaign.cancelled",
]
MAX_URL_CHARS = 2_000
# The target name of an event's own endpoint (the call's or campaign's `webhook_url`).
EVENT_URL = "event-url"
SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24  # the spec: 24 to 64 random bytes, base64, prefixed `whsec_`
MAX_SECRET_BYTES = 64
LOOPBACK_HOSTS = frozenset({"localhost"})
# The spec's example schedule: the waits after each failed attempt, ~3 days in all.
RETRY_DELAYS_SEC: tuple[float, ...] = (5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400)


class WebhookEvent(BaseModel):
    """Input of a `WebhookWorkflow`: one event for every endpoint that wants it."""

    id: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._:-]+$")
    type: EventType
    occurred_at: datetime
    call_id: str | None = None
    # Facts of the moment (an outcome, a campaign's counts): no phone number, no secret.
    data: dict[str, JsonValue] = Field(default_factory=dict)
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _credential_free(cls, url: str | None) -> str | None:
        return None if url is None else check_event_url(url)


def event_id(subject: str, type: EventType, seq: int = 0) -> str:
    """The deterministic `webhook-id` of an event: a retry, a replay or a crash of the sender
    gives the same id, and the delivery workflow's id is derived from it (started once)."""
    return f"{subject}.{type}" + (f".{seq}" if seq else "")


def workflow_id(event_id: str) -> str:
    return f"webhook-{event_id}"


def reminder_key(title: str, due: datetime, attempt: int = 0) -> str:
    """A reminder's part of its events' ids: the same reminder, due time and attempt give the
    same id (a title may hold any character; its hash does not)."""
    digest = hashlib.sha256(f"{title.strip().lower()}|{due.isoformat()}".encode()).hexdigest()
    return f"{digest[:16]}.{attempt}"


def reminder_event(
    call_id: str,
    type: EventType,
    occurred_at: datetime,
    *,
    title: str,
    due: datetime,
    attempt: int = 0,
    url: str | None = None,
    **facts: JsonValue,
) -> WebhookEvent:
    """A `reminder.*` event of a call's reminder (sent by the call, or by its
    `ReminderWorkflow` with `workflows.webhooks.send_webhook`)."""
    return WebhookEvent(
        id=f"{event_id(call_id, type)}.{reminder_key(title, due, attempt)}",
        type=type,
        occurred_at=occurred_at,
        data={
            "call_id": call_id,
            "title": title,
            "due_date_time": due.isoformat(),
            "attempt": attempt,
            **facts,
        },
        url=url,
    )


def campaign_event(
    campaign_id: str,
    type: EventType,
    occurred_at: datetime,
    *,
    seq: int = 0,
    url: str | None = None,
    **facts: JsonValue,
) -> WebhookEvent:
    """A `campaign.*` event (sent by the `CampaignWorkflow` with `send_webhook`): `seq` tells
    apart events of one type (each `campaign.progress`, each pause), facts are counts and ids,
    never a contact's number."""
    return WebhookEvent(
        id=event_id(campaign_id, type, seq),
        type=type,
        occurred_at=occurred_at,
        data={"campaign_id": campaign_id, **facts},
        url=url,
    )


def check_event_url(url: str) -> str:
    """An endpoint given with a call or campaign: HTTPS (plain HTTP only to a loopback host),
    and nothing that could be a credential, since it is kept in history."""
    if len(url) > MAX_URL_CHARS:
        raise ValueError(f"webhook_url is longer than {MAX_URL_CHARS} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("webhook_url must be an absolute https:// URL")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise ValueError("webhook_url must use https (plain http only to a loopback host)")
    if parts.username is not None or parts.password is not None:
        raise ValueError(
            "webhook_url must not carry credentials (user:password@): it is kept in the "
            "call's history; deliveries are signed with the deployment's webhooks.secret"
        )
    if parts.query or parts.fragment:
        raise ValueError(
            "webhook_url must not have a query string or fragment (it may hold a token and is "
            "kept in the call's history); deliveries are signed instead"
        )
    return url


def check_endpoint_url(url: str) -> str:
    """An endpoint of the settings (never in history): any http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"webhook endpoint {url!r} is not an absolute http(s) URL")
    return url


def check_secret(secret: str) -> str:
    """A Standard Webhooks symmetric secret: `whsec_` + base64 of 24 to 64 bytes."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX}")
    try:
        raw = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc
    if not MIN_SECRET_BYTES <= len(raw) <= MAX_SECRET_BYTES:
        raise ValueError(
            f"a webhook secret holds {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, not {len(raw)}"
        )
    return secret


def wants(filters: list[str], type: str) -> bool:
    """Whether an endpoint's event filters take `type`: empty takes all; `call.*` a family."""
    if not filters:
        return True
    return any(f == type or (f.endswith(".*") and type.startswith(f[:-1])) for f in filters)


def body(event: WebhookEvent, call: CallState | None) -> dict[str, Any]:
    """The JSON body: `{type, timestamp, data}` as the spec recommends; for a call event the
    call's data (from the store when sent) under the facts the event carried."""
    data: dict[str, Any] = {}
    if event.call_id is not None:
        data["call_id"] = event.call_id
    if call is not None:
        data.update(_call_data(event.type, call))
    data.update(event.data)
    return {"type": event.type, "timestamp": event.occurred_at.isoformat(), "data": data}


def _call_data(type: str, call: CallState) -> dict[str, Any]:
    initiate = call.initiate
    data: dict[str, Any] = {
        "call_id": call.call_id,
        "direction": call.direction,
        "channel": call.channel,
        "phone_number": initiate.phone_number,
        "bot_company": initiate.bot_company,
        "bot_name": initiate.bot_name,
        "created_at": call.created_at.isoformat(),
    }
    if call.follow_up_of is not None:
        data["follow_up_of"] = call.follow_up_of
    if type == "call.ended":
        data["status"] = call.status.value
        data["outcome"] = call.outcome.value if call.outcome is not None else None
        data["outcome_code"] = call.outcome_code
        data["outcome_detail"] = call.outcome_detail
        data["claim"] = dict(call.claim)
        data["reminders"] = [
            {"title": r.title, "due_date_time": r.due_date_time.isoformat(), "status": r.status}
            for r in call.reminders
        ]
        data["handoff"] = call.handoff.model_dump(mode="json") if call.handoff else None
        data["usage"] = public_usage(call.usage)
    elif type == "call.analyzed":
        data["claim"] = dict(call.claim)
        data["synthesis"] = call.synthesis.model_dump(mode="json") if call.synthesis else None
        data["next_action"] = call.next.model_dump(mode="json") if call.next else None
        data["usage"] = public_usage(call.usage)
    return data


def public_usage(usage: CallUsage) -> dict[str, Any]:
    """The usage as the customer sees it: without the bookkeeping of an open connection."""
    return usage.model_dump(
        mode="json", exclude={"connected_since", "connected_direction", "recording_since"}
    )


def _loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- boundaries of the delivery workflow and its activities ------------------------------


class TargetsInput(BaseModel):
    """Which endpoints take an event (local activity `webhook_targets`)."""

    type: EventType
    has_url: bool


class WebhookPlan(BaseModel):
    """The endpoints (by name: a URL or secret never enters history) and the retry plan."""

    targets: list[str]
    retry_delays_sec: list[float]
    timeout_sec: float


class DeliverInput(BaseModel):
    """One attempt to one endpoint (activity `deliver_webhook`)."""

    event: WebhookEvent
    target: str
    attempt: int = Field(ge=1)


class DeliveryResult(BaseModel):
    status: int


class TargetReport(BaseModel):
    target: str
    delivered: bool
    attempts: int
    last_error: str | None = None


class WebhookReport(BaseModel):
    """What the delivery workflow did, per endpoint (its result, shown in the Temporal UI)."""

    event_id: str
    type: EventType
    targets: list[TargetReport]
