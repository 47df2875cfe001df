"""Activities `webhook_targets` and `deliver_webhook`: Standard Webhooks to the customer.

One call of `deliver_webhook` is one HTTP attempt (the workflow retries, so each attempt is its
own activity in the Temporal UI, with its error). The body is built when sent: the call's data
comes from the store, so history holds only the event's id and facts. URLs and secrets come
from the settings by endpoint name; an event's own URL is signed with `webhooks.secret`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from core.settings import WebhookSettings
from domain.webhooks import (
    EVENT_URL,
    DeliverInput,
    DeliveryResult,
    TargetsInput,
    WebhookEvent,
    WebhookPlan,
    body,
    wants,
    workflow_id,
)
from providers.store.base import CallStore

USER_AGENT = "callcenter-webhooks/1"
MAX_RETRY_AFTER_SEC = 24 * 3_600.0


class WebhookActivities:
    def __init__(
        self,
        settings: WebhookSettings,
        store: CallStore,
        http: httpx.AsyncClient | None = None,
        *,
        client: Client | None = None,
        task_queue: str = "",
    ) -> None:
        self._settings = settings
        self._store = store
        self._client = client
        self._task_queue = task_queue
        # No redirects: the spec counts a 3xx as a failure (and following one could leave the
        # endpoint the customer configured).
        self._http = http or httpx.AsyncClient(follow_redirects=False)

    async def aclose(self) -> None:
        await self._http.aclose()

    @activity.defn(name="enqueue_webhook")
    async def enqueue_webhook(self, event: WebhookEvent) -> None:
        """Start the event's `WebhookWorkflow` (once: its id is the event's; a retry or a
        second send finds it started)."""
        if self._client is None:
            raise ApplicationError("no Temporal client", type="WebhookConfig", non_retryable=True)
        try:
            await self._client.start_workflow(
                "WebhookWorkflow",
                event,
                id=workflow_id(event.id),
                task_queue=self._task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=f"Webhook {event.type}",
            )
        except WorkflowAlreadyStartedError:
            activity.logger.info("webhook %s already enqueued", event.id)

    @activity.defn(name="webhook_targets")
    async def webhook_targets(self, input: TargetsInput) -> WebhookPlan:
        targets = [e.name for e in self._settings.endpoints if wants(e.events, input.type)]
        if input.has_url:
            targets.append(EVENT_URL)
        return WebhookPlan(
            targets=targets,
            retry_delays_sec=list(self._settings.retry_delays_sec),
            timeout_sec=self._settings.timeout_sec,
        )

    @activity.defn(name="deliver_webhook")
    async def deliver_webhook(self, input: DeliverInput) -> DeliveryResult:
        event = input.event
        url, secret = self._endpoint(input)
        call = await self._store.get(event.call_id) if event.call_id else None
        # Signed exactly as sent: the bytes are serialised once.
        payload = json.dumps(body(event, call), ensure_ascii=False, separators=(",", ":"))
        data = payload.encode()
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": event.id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(event.id, now, data),
        }
        where = f"{input.target} ({_safe(url)})"
        try:
            response = await self._http.post(
                url, content=data, headers=headers, timeout=self._settings.timeout_sec
            )
        except httpx.HTTPError as exc:
            raise ApplicationError(
                f"{where}: {type(exc).__name__}", type="WebhookUnreachable"
            ) from None  # the exception's text may repeat the URL
        status = response.status_code
        if 200 <= status < 300:
            activity.logger.info("webhook %s %s delivered to %s", event.type, event.id, where)
            return DeliveryResult(status=status)
        if status == 410:
            # The spec: 410 Gone means the endpoint no longer wants deliveries.
            raise ApplicationError(
                f"{where}: HTTP 410, the endpoint is gone", type="WebhookGone", non_retryable=True
            )
        raise ApplicationError(
            f"{where}: HTTP {status}",
            _retry_after(response.headers.get("retry-after"), now),
            type="WebhookRefused",
        )

    def _endpoint(self, input: DeliverInput) -> tuple[str, str]:
        if input.target == EVENT_URL:
            if input.event.url is None:
                raise ApplicationError(
                    "the event has no URL", type="WebhookConfig", non_retryable=True
                )
            if self._settings.secret is None:
                raise ApplicationError(
                    "webhooks.secret is not set: a call's webhook_url cannot be signed",
                    type="WebhookConfig",
                    non_retryable=True,
                )
            return input.event.url, self._settings.secret.get_secret_value()
        for endpoint in self._settings.endpoints:
            if endpoint.name == input.target:
                return endpoint.url, endpoint.secret.get_secret_value()
        raise ApplicationError(
            f"no webhook endpoint {input.target!r} in the settings any more",
            type="WebhookConfig",
            non_retryable=True,
        )


def _retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` in seconds (delta-seconds or an HTTP date), capped; None if absent."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - now).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SEC)


def _safe(url: str) -> str:
    """The URL without anything that may be a credential (for errors shown in the UI)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}"
