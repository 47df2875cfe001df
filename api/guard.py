"""What every request meets before any route reads it: the key check and the body size cap.

FastAPI reads and validates a body before it runs a route's dependencies, so a key checked in a
dependency comes after a 100 MB body has been read into memory. This ASGI middleware runs first:
a route that needs the API key answers 401 before one byte of the body is read, and a body over
its route's cap is answered 413 from its `Content-Length`, or as soon as the bytes read pass the
cap. It also marks every response `nosniff`, so no browser runs a JSON answer as a script.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import SecretStr
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_body

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Rule:
    """Who may call the routes under `prefix`, and the largest body they take."""

    prefix: str
    max_body: int
    needs_key: bool  # False: the route checks its own credential (before reading the body)


# First match wins. JSON bodies of the API are small (a call's settings, a turn of 2,000 chars);
# Event Grid delivers batches of up to 1 MB; the codec takes a page of history events.
RULES = (
    Rule("/health/", 4 * KIB, needs_key=False),
    Rule("/codec/", 8 * MIB, needs_key=False),  # a key, a Bearer token or its session cookie
    Rule("/eventgrid/", 1 * MIB, needs_key=False),  # ?secret=
    Rule("/communicationservices/callback/", 256 * KIB, needs_key=False),  # secret + ACS JWT
    Rule("/twilio/", 64 * KIB, needs_key=False),  # X-Twilio-Signature
    Rule("/signed/", 4 * KIB, needs_key=False),  # HMAC-signed, expiring link (GET only)
)
# Everything else, /docs and /openapi.json included, and any path no route serves.
DEFAULT_RULE = Rule("/", 64 * KIB, needs_key=True)


def rule_for(path: str) -> Rule:
    return next((r for r in RULES if path.startswith(r.prefix)), DEFAULT_RULE)


def key_valid(given: str, keys: Iterable[SecretStr]) -> bool:
    # Every key compared in constant time: the answer's timing tells nothing about a key.
    matches = [hmac.compare_digest(given.encode(), k.get_secret_value().encode()) for k in keys]
    return any(matches)


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a body without (or lying about) its length passes the cap."""

    def __init__(self, cap: int) -> None:
        super().__init__(413, f"request body over {cap} bytes")


class Guard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _nosniff(send)
        rule = rule_for(scope["path"])
        settings = scope["app"].state.services.settings
        if rule.needs_key and settings.api.keys:
            given = _header(scope, settings.api.key_header.lower().encode())
            if not key_valid(given.decode("latin-1"), settings.api.keys):
                message = f"missing or invalid {settings.api.key_header} header"
                await _answer(send, 401, message)
                return
        declared = _header(scope, b"content-length")
        too_long = declared.isdigit() and int(declared) > rule.max_body
        if too_long and rule.needs_key:
            await _answer(send, 413, f"request body over {rule.max_body} bytes")
            return
        started, size = False, 0

        async def counting_receive() -> Message:
            # A route with its own credential checks it before reading: its 401 comes first,
            # then the declared length is refused here, before a byte is read.
            nonlocal size
            if too_long:
                raise BodyTooLarge(rule.max_body)
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > rule.max_body:
                    raise BodyTooLarge(rule.max_body)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as exc:
            # Raised where no handler turned it into an answer (a route that reads the stream
            # itself outside FastAPI's body parsing).
            if started:
                raise
            await _answer(send, 413, str(exc.detail))


def _header(scope: Scope, name: bytes) -> bytes:
    return next((v for k, v in scope["headers"] if k == name), b"")


def _nosniff(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            if not any(k.lower() == b"x-content-type-options" for k, _ in headers):
                headers.append((b"x-content-type-options", b"nosniff"))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


async def _answer(send: Send, status: int, message: str) -> None:
    body = json.dumps(error_body(message)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        # The client may still be sending: it must not wait for us to read the rest.
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
