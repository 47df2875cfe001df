"""Ids derived from what a client or a provider repeats, so a repeated delivery is one effect.

A retried request, a redelivered webhook or a resent SMS carries the same key as the first;
deriving the workflow (or update) id from that key lets Temporal refuse or dedupe the repeat,
across API restarts, with no state of our own to lose.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

# Fixed forever: changing it would give every in-flight key a new call.
_NAMESPACE = uuid.UUID("6d1f3c2e-9a57-4b8e-8f0e-2c7a1d5e9b40")

# The memo entry holding the fingerprint of the request that first used an Idempotency-Key.
REQUEST_MEMO = "idempotency_request"

IDEMPOTENCY_KEY_DOC = (
    "A unique value (e.g. a UUID) chosen by the client for this call request. A retry of the "
    "same request with the same key places no second call and answers the first call's body "
    "again (with `Idempotent-Replayed: true`); the same key with a different body is a 422. "
    "Keys are scoped to the API key that sends them and never expire while Temporal keeps the "
    "call."
)


def call_id_for_key(api_key: str | None, idempotency_key: str) -> str:
    """The call id of a `POST /call` with this key, per API key (two tenants never collide).

    The API key itself is hashed first, so it never appears in an id or a log.
    """
    scope = hashlib.sha256((api_key or "").encode()).hexdigest()
    return str(uuid.uuid5(_NAMESPACE, f"post-call\n{scope}\n{idempotency_key}"))


def call_id_for_incoming(incoming_call_context: str) -> str:
    """The call id of a new call answering this Event Grid `IncomingCall`."""
    return str(uuid.uuid5(_NAMESPACE, f"incoming-call\n{incoming_call_context}"))


def call_id_for_sms(provider: str, message_id: str) -> str:
    """The call id of a new conversation opened by this text message."""
    return str(uuid.uuid5(_NAMESPACE, f"sms\n{provider}\n{message_id}"))


def sms_update_id(provider: str, message_id: str) -> str:
    """The update id of the turn of this text message (the same as any redelivery of it)."""
    return f"sms-{provider}-{message_id}"


def fingerprint(body: dict[str, Any]) -> str:
    """A stable digest of a JSON body (key order and spacing do not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
