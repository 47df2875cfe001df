"""The codec server: the Temporal UI and CLI decrypt (and encrypt) payloads through the API.

Temporal's remote codec protocol: `POST {endpoint}/decode` and `{endpoint}/encode` with
`{"payloads": [...]}` in protobuf JSON, the namespace in `X-Namespace`. The UI calls it from the
browser, so it answers CORS for the UI's origin (`temporal.ui_url`) and nothing else.

Who may call it: one request decrypts anything, so it takes the same keys as the rest of the
API. A key is accepted in the API's key header (scripts), as `Authorization: Bearer <key>` (the
CLI's `--codec-auth`, or a UI whose "pass access token" forwards a token the proxy in front of
it maps to a key), or as the `callcenter_codec` cookie that `POST /codec/session` sets (a browser
whose UI runs with `includeCredentials`: the cookie is HttpOnly, SameSite=Strict, signed and
expiring, and holds no key). Without API keys (the offline default, which settings allow only
on loopback) the codec is as open as every other route: `make dev`'s UI decodes out of the box.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, Payloads

from api.deps import ServicesDep
from api.errors import ApiError
from api.guard import key_valid
from api.json_body import read_json
from core.codec import EncryptionCodec
from core.settings import Settings

router = APIRouter(prefix="/codec", tags=["codec"])

COOKIE = "callcenter_codec"
SESSION_SEC = 12 * 3600
MAX_PAYLOADS = 1_000
# The UI decodes a page of history events per request; a call's whole state is tens of KB.
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_FORM_BYTES = 4_096


def ui_origin(settings: Settings) -> str:
    parts = urlsplit(settings.temporal.ui_url)
    return f"{parts.scheme}://{parts.netloc}"


def _cors(request: Request, response: Response, settings: Settings) -> None:
    origin = request.headers.get("origin")
    if origin is not None and origin == ui_origin(settings):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Vary"] = "Origin"


def _session_signature(key: SecretStr, expires: int) -> str:
    message = f"codec-session:{expires}".encode()
    return hmac.new(key.get_secret_value().encode(), message, hashlib.sha256).hexdigest()


def _session_valid(cookie: str, keys: list[SecretStr]) -> bool:
    expires_text, _, signature = cookie.partition(".")
    if not expires_text.isdigit() or int(expires_text) < time.time():
        return False
    expires = int(expires_text)
    given = signature.encode()  # bytes: a cookie may hold any character, a str compare raises
    return any(hmac.compare_digest(given, _session_signature(k, expires).encode()) for k in keys)


def _given_key(request: Request, settings: Settings) -> str:
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return request.headers.get(settings.api.key_header, "")


def _key_matches(given: str, keys: list[SecretStr]) -> bool:
    return key_valid(given, keys)


def require_codec_access(request: Request, services: ServicesDep) -> None:
    keys = services.settings.api.keys
    if not keys:
        return
    if _key_matches(_given_key(request, services.settings), keys):
        return
    cookie = request.cookies.get(COOKIE)
    if cookie is not None and _session_valid(cookie, keys):
        return
    raise ApiError(401, "the codec needs an API key (key header, Bearer token or session cookie)")


def _codec(request: Request, settings: Settings) -> EncryptionCodec:
    codec: EncryptionCodec | None = getattr(request.app.state, "codec", None)
    if codec is None:  # built once: deriving the keys is the costly part
        codec = EncryptionCodec.from_settings(settings.temporal.codec)
        request.app.state.codec = codec
    return codec


async def _read_json(request: Request) -> dict[str, Any]:
    """The body, read only now that the caller is known to hold a key, and never past the cap."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, f"body over {MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, f"body over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    try:
        body = read_json(b"".join(chunks))
    except ValueError as exc:
        raise ApiError(400, "body is not JSON") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "body must be a JSON object")
    return body


def _payloads(body: dict[str, Any]) -> list[Payload]:
    if not isinstance(body.get("payloads"), list) or len(body["payloads"]) > MAX_PAYLOADS:
        raise ApiError(400, f"body must be {{'payloads': [...]}} with at most {MAX_PAYLOADS}")
    try:
        return list(json_format.ParseDict(body, Payloads(), ignore_unknown_fields=True).payloads)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise ApiError(400, "payloads are not protobuf JSON Payloads") from exc


def _answer(payloads: list[Payload]) -> dict[str, Any]:
    result: dict[str, Any] = json_format.MessageToDict(Payloads(payloads=payloads))
    return {"payloads": result.get("payloads", [])}


Protected = [Depends(require_codec_access)]
# The body is read by the handler, after the key check, so the schema is described here.
PAYLOADS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["payloads"],
    "properties": {
        "payloads": {
            "type": "array",
            "maxItems": MAX_PAYLOADS,
            "items": {
                "type": "object",
                "properties": {
                    "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
                    "data": {"type": "string", "description": "base64"},
                },
            },
        }
    },
}
CODEC_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": PAYLOADS_SCHEMA}},
    }
}
CODEC_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"schema": PAYLOADS_SCHEMA}}},
    400: {"description": "not protobuf JSON payloads, or not decryptable with these keys"},
    401: {"description": "no valid API key, Bearer token or session cookie"},
    413: {"description": "body too large"},
}


@router.post(
    "/decode", dependencies=Protected, openapi_extra=CODEC_OPENAPI, responses=CODEC_RESPONSES
)
async def decode(request: Request, response: Response, services: ServicesDep) -> dict[str, Any]:
    """Decrypt payloads (the Temporal UI's remote codec). Unencrypted ones come back as sent."""
    _cors(request, response, services.settings)
    codec = _codec(request, services.settings)
    try:
        return _answer([codec.decrypt(p) for p in _payloads(await _read_json(request))])
    except (ValueError, DecodeError) as exc:  # unknown key id, tampered or truncated payload
        raise ApiError(400, "a payload cannot be decrypted with the configured keys") from exc


@router.post(
    "/encode", dependencies=Protected, openapi_extra=CODEC_OPENAPI, responses=CODEC_RESPONSES
)
async def encode(request: Request, response: Response, services: ServicesDep) -> dict[str, Any]:
    """Encrypt payloads under the current key (what the UI sends as a signal or query input)."""
    _cors(request, response, services.settings)
    codec = _codec(request, services.settings)
    return _answer([codec.encrypt(p) for p in _payloads(await _read_json(request))])


@router.options("/{operation}", include_in_schema=False)
async def preflight(operation: str, request: Request, services: ServicesDep) -> Response:
    """CORS preflight: browsers send it without credentials, so it is answered without a key."""
    settings = services.settings
    if operation not in {"decode", "encode"} or request.headers.get("origin") != ui_origin(
        settings
    ):
        return Response(status_code=403)
    response = Response(status_code=204)
    _cors(request, response, settings)
    response.headers["Access-Control-Allow-Methods"] = "POST"
    response.headers["Access-Control-Allow-Headers"] = (
        f"content-type, x-namespace, authorization, {settings.api.key_header.lower()}"
    )
    response.headers["Access-Control-Max-Age"] = "600"
    return response


SESSION_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Codec session</title></head>
<body><h1>Decrypt payloads in the Temporal UI</h1>
<p>Enter an API key: this browser gets a codec cookie for {hours} hours (the key is not kept).</p>
<form method="post" action="session"><label>API key
<input type="password" name="key" autocomplete="off" required></label>
<button type="submit">Open a session</button></form></body></html>
"""
OPENED = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Codec session</title></head>
<body><p>Codec session open. The Temporal UI decrypts payloads in this browser.</p></body></html>
"""
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@router.get("/session", include_in_schema=False)
async def session_form() -> HTMLResponse:
    """A form to open a session from the browser that runs the Temporal UI."""
    return HTMLResponse(SESSION_FORM.format(hours=SESSION_SEC // 3600), headers=PAGE_HEADERS)


SESSION_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": {"key": {"type": "string"}}}
            }
        },
    }
}


@router.post(
    "/session",
    response_class=HTMLResponse,
    openapi_extra=SESSION_OPENAPI,
    responses={
        200: {"description": "Session opened from the form: a confirmation page"},
        204: {"description": "Session opened (key header or Bearer token)"},
        401: {"description": "no valid API key"},
    },
)
async def open_session(request: Request, services: ServicesDep) -> Response:
    """Exchange an API key (key header, Bearer, or the form's `key`) for the codec cookie.

    The cookie is HttpOnly (no script reads it), scoped to `/codec`, signed with the key and
    expiring; it holds no key. Over https it is `SameSite=None; Secure`, so the UI may run on
    another site (an SSH-tunnelled `localhost` UI, Temporal Cloud): what keeps other sites out is
    CORS, answered for the UI's origin only, and decoding being useless unless the answer can be
    read. Over plain http (loopback) it is `SameSite=Strict`.
    """
    keys = services.settings.api.keys
    given = _given_key(request, services.settings)
    from_form = False
    if not given and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        declared = request.headers.get("content-length", "")
        if not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
            raise ApiError(413, f"the form is at most {MAX_FORM_BYTES} bytes")
        given, from_form = str((await request.form()).get("key", "")), True
    key = next((k for k in keys if key_valid(given, [k])), None)
    if key is None:
        raise ApiError(401, "a session needs a valid API key")
    expires = int(time.time()) + SESSION_SEC
    # Behind the TLS edge the API itself sees http: the public URL says how browsers reach it.
    public = services.settings.telephony.public_url
    secure = request.url.scheme == "https" or public.startswith("https://")
    response: Response = (
        HTMLResponse(OPENED, headers=PAGE_HEADERS) if from_form else Response(status_code=204)
    )
    response.set_cookie(
        COOKIE,
        f"{expires}.{_session_signature(key, expires)}",
        max_age=SESSION_SEC,
        path="/codec",
        httponly=True,
        samesite="none" if secure else "strict",
        secure=secure,
    )
    return response
