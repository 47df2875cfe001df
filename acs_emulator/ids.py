"""Identifiers and ids in the shapes ACS uses."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any


def phone_identifier(number: str) -> dict[str, Any]:
    return {"kind": "phoneNumber", "rawId": f"4:{number}", "phoneNumber": {"value": number}}


def user_identifier(raw_id: str) -> dict[str, Any]:
    return {"kind": "communicationUser", "rawId": raw_id, "communicationUser": {"id": raw_id}}


def identifier_for(raw_id: str) -> dict[str, Any]:
    if raw_id.startswith("4:"):
        return phone_identifier(raw_id[2:])
    return user_identifier(raw_id)


def bot_identity(resource_id: str) -> str:
    """The application's own ACS identity, as it appears in participant lists."""
    return f"8:acs:{resource_id}_00000000-0000-0000-0000-{secrets.token_hex(6)}"


def server_call_id() -> str:
    # Real ones are base64 of a conversation URL; the app must treat them as opaque.
    url = f"https://emulator.acs.local/conv/{uuid.uuid4().hex}?i=10-0-0-1&e={secrets.randbits(60)}"
    return base64.b64encode(url.encode()).decode()


def incoming_call_context(server_call: str) -> str:
    """An opaque token shaped like the real one (an unsigned JWT)."""
    header = _b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps({"cc": server_call, "nonce": secrets.token_hex(16)}).encode())
    return f"{header}.{payload}."


def recording_id(connection_id: str) -> str:
    body = {"PlatformEndpointId": connection_id, "ResourceSpecificId": str(uuid.uuid4())}
    return _b64url(json.dumps(body, separators=(",", ":")).encode())


def event_time(moment: datetime | None = None) -> str:
    """`2025-06-20T21:27:16.9155954+00:00`: seven fractional digits, like the service."""
    moment = moment or datetime.now(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0+00:00"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
