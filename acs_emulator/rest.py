"""The Call Automation REST subset the SDK uses, behind HMAC and repeatability checks."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from acs_emulator.auth import verify_hmac
from acs_emulator.emulator import Emulator
from acs_emulator.errors import AcsError, bad_request, error_response, not_implemented
from acs_emulator.ids import phone_identifier
from acs_emulator.repeatability import StoredResponse
from acs_emulator.results import BOT_HUNG_UP
from acs_emulator.schemas import (
    AddParticipant,
    AnswerCall,
    CancelAddParticipant,
    CreateCall,
    Hold,
    MediaStreamingRequest,
    Play,
    Recognize,
    RedirectCall,
    RejectCall,
    RemoveParticipant,
    StartRecording,
    TransferToParticipant,
    Unhold,
    parse,
)

log = logging.getLogger(__name__)

EMULATOR_KEY = web.AppKey("acs_emulator", Emulator)
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(status: int, body: Any | None = None) -> web.Response:
    if body is None:
        return web.Response(status=status)
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


async def _body(request: web.Request) -> bytes:
    return await request.read()  # aiohttp caches it: the middleware already read it


def _api_version(request: web.Request) -> str:
    return request.query.get("api-version", "")


@web.middleware
async def acs_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate /calling and /sms requests like ACS does, then apply repeatability."""
    signed = request.path.startswith("/calling/") or request.path == "/sms"
    if not signed or request.path == "/calling/keys":
        return await handler(request)
    emulator = request.app[EMULATOR_KEY]
    try:
        _authenticate(emulator, request, await request.read())
    except AcsError as exc:
        log.info("%s %s refused: %s", request.method, request.path, exc)
        return exc.response()
    missing = request.match_info.http_exception
    if missing is not None:
        return error_response(missing.status, "NotFound", f"No such resource: {request.path}.")
    request_id = request.headers.get("Repeatability-Request-ID")
    try:
        if request_id is None:
            stored = await _stored(handler, request)
        else:
            _check_repeatability(request_id, request.headers.get("Repeatability-First-Sent"))
            stored, replayed = await emulator.repeatability.run(
                request_id, f"{request.method} {request.path}", lambda: _stored(handler, request)
            )
            if replayed:
                log.info("%s %s replayed (%s)", request.method, request.path, request_id)
    except AcsError as exc:
        return exc.response()
    response = web.Response(status=stored.status, body=stored.body or None)
    if stored.content_type:
        response.content_type = stored.content_type
    if request_id is not None:
        response.headers["Repeatability-Result"] = "accepted"
    return response


def _authenticate(emulator: Emulator, request: web.Request, body: bytes) -> None:
    verify_hmac(
        access_key=emulator.config.access_key,
        method=request.method,
        raw_path=request.raw_path,
        headers=request.headers,
        body=body,
        max_skew_s=emulator.config.max_clock_skew_s,
    )
    version = request.query.get("api-version")
    if not version:
        raise AcsError(400, "MissingApiVersionParameter", "The api-version query is required.")
    if not _API_VERSION.match(version):
        raise AcsError(400, "UnsupportedApiVersionValue", f"Bad api-version {version!r}.")


async def _stored(handler: Handler, request: web.Request) -> StoredResponse:
    """Run the handler; its answer (errors included) as something repeatable."""
    try:
        response = await handler(request)
    except AcsError as exc:
        response = exc.response()
    if not isinstance(response, web.Response):
        raise RuntimeError("handlers return plain responses")
    raw = response.body if isinstance(response.body, bytes) else b""
    return StoredResponse(response.status, raw, response.content_type if raw else None)


def _check_repeatability(request_id: str, first_sent: str | None) -> None:
    try:
        uuid.UUID(request_id)
    except ValueError as exc:
        raise bad_request("Repeatability-Request-ID must be a UUID.") from exc
    if not first_sent:
        raise bad_request("Repeatability-First-Sent is required with Repeatability-Request-ID.")


# --- call connections --------------------------------------------------------------------------


async def jwks(request: web.Request) -> web.Response:
    return _json(200, request.app[EMULATOR_KEY].signer.jwks())


async def create_call(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR_KEY]
    call = emulator.create_call(parse(CreateCall, await _body(request)), _api_version(request))
    return _json(201, call.properties())


async def call_automation_action(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR_KEY]
    action, body = request.match_info["action"], await _body(request)
    if action == "answer":
        call = emulator.answer_call(parse(AnswerCall, body), _api_version(request))
        return _json(200, call.properties())
    if action == "reject":
        await emulator.reject_call(parse(RejectCall, body))
        return _json(204)
    if action == "redirect":
        await emulator.redirect_call(parse(RedirectCall, body))
        return _json(204)
    raise not_implemented(f"POST /calling/callConnections:{action}")


def _split(target: str) -> tuple[str, str | None]:
    connection_id, _, action = target.partition(":")
    return connection_id, action or None


async def get_call(request: web.Request) -> web.Response:
    connection_id, action = _split(request.match_info["target"])
    if action is not None:
        raise not_implemented(f"GET …:{action}")
    return _json(200, request.app[EMULATOR_KEY].existing_call(connection_id).properties())


async def hang_up(request: web.Request) -> web.Response:
    connection_id, action = _split(request.match_info["target"])
    if action is not None:
        raise not_implemented(f"DELETE …:{action}")
    call = request.app[EMULATOR_KEY].existing_call(connection_id)
    await call.leave()
    return _json(204)


async def call_action(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR_KEY]
    connection_id, action = _split(request.match_info["target"])
    body = await _body(request)
    if action == "terminate":
        call = emulator.existing_call(connection_id)
        await call.end(by="bot", reason="hang_up(is_for_everyone=True)", result=BOT_HUNG_UP)
        return _json(204)
    if action not in _ACTIONS:
        emulator.get_call(connection_id)
        raise not_implemented(f"POST /calling/callConnections/{{id}}:{action}")
    call = emulator.live_call(connection_id)
    if action == "play":
        play = parse(Play, body)
        play_to = [target.key() for target in play.play_to]
        for key in play_to:
            if not call.party.in_call(key):
                raise bad_request(f"playTo: {key} is not in the call.")
        call.ops.play(
            play.play_sources,
            loop=bool(play.play_options and play.play_options.loop),
            context=play.operation_context,
            url=play.operation_callback_uri,
            interrupt=play.interrupt_call_media_operation,
            play_to=play_to,
        )
        return _json(202)
    if action == "recognize":
        recognize = parse(Recognize, body)
        options = recognize.recognize_options
        if recognize.recognize_input_type == "choices" and not options.choices:
            raise bad_request(
                "recognizeOptions.choices is required for recognizeInputType choices."
            )
        call.ops.recognize(recognize, recognize.operation_callback_uri)
        return _json(202)
    if action == "hold":
        call.party.hold(parse(Hold, body))
        return _json(200)
    if action == "unhold":
        call.party.unhold(parse(Unhold, body))
        return _json(200)
    if action == "cancelAllMediaOperations":
        call.ops.cancel_all()
        return _json(202)
    if action == "transferToParticipant":
        transfer = parse(TransferToParticipant, body)
        call.transfer(
            transfer.target_participant, transfer.operation_context, transfer.operation_callback_uri
        )
        return _json(202, {"operationContext": transfer.operation_context})
    streaming = parse(MediaStreamingRequest, body or b"{}")
    context, url = streaming.operation_context, streaming.operation_callback_uri
    if call.media_options is None:
        raise bad_request("The call has no mediaStreamingOptions.")
    if action == "startMediaStreaming":
        if call.streaming.active:
            raise AcsError(400, "8583", "Media streaming is already active.")
        call.spawn(
            call.streaming.start(streaming.operation_context, streaming.operation_callback_uri)
        )
        return _json(202)
    if not call.streaming.active:
        raise AcsError(400, "8583", "Media streaming is not active.")
    call.spawn(call.streaming.stop(context, url))
    return _json(202)


_ACTIONS = {
    "play",
    "recognize",
    "cancelAllMediaOperations",
    "hold",
    "unhold",
    "transferToParticipant",
    "startMediaStreaming",
    "stopMediaStreaming",
}


async def participants(request: web.Request) -> web.Response:
    call = request.app[EMULATOR_KEY].existing_call(request.match_info["id"])
    return _json(200, {"value": call.participants()})


async def participant(request: web.Request) -> web.Response:
    call = request.app[EMULATOR_KEY].existing_call(request.match_info["id"])
    raw_id = request.match_info["raw_id"]
    for item in call.participants():
        if item["identifier"]["rawId"] == raw_id:
            return _json(200, item)
    raise AcsError(404, "8522", f"Participant not found: {raw_id}.")


async def participants_action(request: web.Request) -> web.Response:
    """participants:add, :remove and :cancelAddParticipant (202; the outcome comes as events)."""
    emulator = request.app[EMULATOR_KEY]
    action = request.match_info["action"]
    if action not in ("add", "remove", "cancelAddParticipant"):
        emulator.get_call(request.match_info["id"])
        raise not_implemented(f"participants:{action}")
    call = emulator.live_call(request.match_info["id"])
    body = await _body(request)
    if action == "add":
        add = parse(AddParticipant, body)
        record = call.party.add(add)
        added = {
            "participant": {
                "identifier": phone_identifier(record.number),
                "isMuted": False,
                "isOnHold": False,
            },
            "invitationId": record.invitation_id,
        }
        if add.operation_context is not None:
            added["operationContext"] = add.operation_context
        return _json(202, added)
    if action == "remove":
        remove = parse(RemoveParticipant, body)
        call.party.remove(remove)
        return _json(202, _context(remove.operation_context))
    cancel = parse(CancelAddParticipant, body)
    call.party.cancel(cancel)
    return _json(202, {"invitationId": cancel.invitation_id, **_context(cancel.operation_context)})


def _context(operation_context: str | None) -> dict[str, str]:
    return {} if operation_context is None else {"operationContext": operation_context}


# --- recordings --------------------------------------------------------------------------------


async def start_recording(request: web.Request) -> web.Response:
    body = request.app[EMULATOR_KEY].start_recording(parse(StartRecording, await _body(request)))
    return _json(200, body)


async def recording(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR_KEY]
    recording_id, action = _split(request.match_info["target"])
    call, record = emulator.find_recording(recording_id)
    if request.method == "GET" and action is None:
        return _json(200, emulator.recording_json(record))
    if request.method == "DELETE" and action is None:
        emulator.set_recording_state(call, record, "stopped")
        return _json(204)
    if request.method == "POST" and action in ("pause", "resume"):
        emulator.set_recording_state(call, record, "inactive" if action == "pause" else "active")
        return _json(202)
    raise not_implemented(f"{request.method} /calling/recordings/{{id}}:{action}")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/calling/keys", jwks)
    app.router.add_post("/calling/callConnections", create_call)
    app.router.add_post("/calling/callConnections:{action}", call_automation_action)
    app.router.add_get("/calling/callConnections/{target}", get_call)
    app.router.add_delete("/calling/callConnections/{target}", hang_up)
    app.router.add_post("/calling/callConnections/{target}", call_action)
    app.router.add_get("/calling/callConnections/{id}/participants", participants)
    app.router.add_get("/calling/callConnections/{id}/participants/{raw_id}", participant)
    app.router.add_post("/calling/callConnections/{id}/participants:{action}", participants_action)
    app.router.add_post("/calling/recordings", start_recording)
    app.router.add_route("*", "/calling/recordings/{target}", recording)
