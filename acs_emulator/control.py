"""`/_emulator/...`: the scripted-caller API (no HMAC; bind the emulator to loopback)."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from acs_emulator import results
from acs_emulator.calls import Call
from acs_emulator.config import Timings
from acs_emulator.models import EmulatorInfo, PhoneConfig
from acs_emulator.phones import check_greeting
from acs_emulator.rest import EMULATOR_KEY
from acs_emulator.sms import SMS_KEY

M = TypeVar("M", bound=BaseModel)


class ControlError(web.HTTPException):
    """A JSON error for the control API."""

    def __init__(self, status: int, message: str) -> None:
        self.status_code = status
        body = json.dumps({"error": {"code": str(status), "message": message}})
        super().__init__(text=body, content_type="application/json")


class DialRequest(BaseModel):
    from_number: str
    to_number: str | None = None
    display_name: str = ""


class PressRequest(BaseModel):
    tones: str = Field(min_length=1)


class SayRequest(BaseModel):
    text: str
    confidence: float = Field(default=0.9, ge=0, le=1)


class SilenceRequest(BaseModel):
    ms: float = Field(gt=0, le=600_000)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


async def _parse(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate_json(await request.read() or b"{}")
    except ValidationError as exc:
        raise ControlError(400, str(exc)) from exc


def _call(request: web.Request) -> Call:
    call = request.app[EMULATOR_KEY].calls.get(request.match_info["id"])
    if call is None:
        raise ControlError(404, f"no call {request.match_info['id']}")
    return call


async def info(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR_KEY]
    body = EmulatorInfo(
        endpoint=emulator.base_url,
        resource_id=emulator.config.resource_id,
        bot_number=emulator.config.bot_number,
        issuer=emulator.config.issuer,
        jwks_url=f"{emulator.base_url}/calling/keys",
        event_grid_url=emulator.config.timings.event_grid_url,
    )
    return _json(body.model_dump(mode="json"))


async def get_config(request: web.Request) -> web.Response:
    return _json(request.app[EMULATOR_KEY].config.timings.model_dump(mode="json"))


async def patch_config(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR_KEY]
    try:
        changes = json.loads(await request.read() or b"{}")
        merged = {**emulator.config.timings.model_dump(), **changes}
        emulator.config.timings = Timings.model_validate(merged)
    except (ValueError, ValidationError, TypeError) as exc:
        raise ControlError(400, str(exc)) from exc
    return _json(emulator.config.timings.model_dump(mode="json"))


async def add_phone(request: web.Request) -> web.Response:
    phone = request.app[EMULATOR_KEY].phones.add(await _parse(request, PhoneConfig))
    return _json(phone.model_dump(mode="json"))


async def set_greeting(request: web.Request) -> web.Response:
    """Raw PCM16LE mono body, `?sample_rate=`: what the phone says as it answers."""
    number = request.match_info["number"]
    try:
        rate = int(request.query["sample_rate"])
    except (KeyError, ValueError) as exc:
        raise ControlError(400, "sample_rate query parameter (Hz) is required") from exc
    try:
        greeting = check_greeting(await request.read(), rate)
        phone = request.app[EMULATOR_KEY].phones.set_greeting(number, greeting)
    except ValueError as exc:
        raise ControlError(400, str(exc)) from exc
    except KeyError as exc:
        raise ControlError(404, f"no phone {number}: add it first") from exc
    return _json(phone.model_dump(mode="json"))


async def list_phones(request: web.Request) -> web.Response:
    return _json([p.model_dump(mode="json") for p in request.app[EMULATOR_KEY].phones.all()])


async def dial(request: web.Request) -> web.Response:
    body = await _parse(request, DialRequest)
    emulator = request.app[EMULATOR_KEY]
    if body.to_number not in (None, emulator.config.bot_number):
        raise ControlError(404, f"{body.to_number} is not the bot's number")
    result = await emulator.dial(body.from_number, body.to_number, body.display_name)
    return _json(result.model_dump(mode="json"))


async def list_calls(request: web.Request) -> web.Response:
    """Long-poll: with `since=<version>`, waits up to `wait_s` for a change."""
    emulator = request.app[EMULATOR_KEY]
    since = request.query.get("since")
    if since is not None:
        wait_s = min(float(request.query.get("wait_s", "1")), 30.0)
        await emulator.wait_changed(int(since), wait_s)
    number = request.query.get("number")
    calls = [
        c.record.model_dump(mode="json")
        for c in emulator.calls.values()
        if number is None or c.record.phone_number == number
    ]
    return _json({"version": emulator.version, "calls": calls})


async def get_call(request: web.Request) -> web.Response:
    return _json(_call(request).record.model_dump(mode="json"))


async def press(request: web.Request) -> web.Response:
    call, body = _call(request), await _parse(request, PressRequest)
    _require_connected(call)
    try:
        call.press(body.tones)
    except ValueError as exc:
        raise ControlError(400, str(exc)) from exc
    return _json({"pressed": body.tones})


async def say(request: web.Request) -> web.Response:
    call, body = _call(request), await _parse(request, SayRequest)
    _require_connected(call)
    call.say(body.text, body.confidence)
    return _json({"said": body.text})


async def play_audio(request: web.Request) -> web.Response:
    call = _call(request)
    _require_connected(call)
    rate = _media_rate(call)
    try:
        sample_rate = int(request.query["sample_rate"])
    except (KeyError, ValueError) as exc:
        raise ControlError(400, "sample_rate query parameter (Hz) is required") from exc
    if sample_rate != rate:
        raise ControlError(
            400, f"audio is {sample_rate} Hz but the call streams {rate} Hz: resample it first"
        )
    pcm = await request.read()
    if len(pcm) % 2:
        raise ControlError(400, "PCM16 audio has an even number of bytes")
    call.audio.push(pcm)
    return _json({"queued_bytes": call.audio.pending_bytes})


async def silence(request: web.Request) -> web.Response:
    call, body = _call(request), await _parse(request, SilenceRequest)
    _require_connected(call)
    rate = _media_rate(call)
    call.audio.push(bytes(int(rate * body.ms / 1000) * 2), silent=True)
    return _json({"queued_bytes": call.audio.pending_bytes})


async def hang_up(request: web.Request) -> web.Response:
    call = _call(request)
    if call.ended:
        raise ControlError(409, "the call has already ended")
    if call.record.state == "ringing" and call.record.direction == "outbound":
        call.emit(
            "CreateCallFailed",
            operation_context=call.record.operation_context,
            result=results.DECLINED,
        )
        await call.end(by="phone", reason="declined while ringing", result=results.DECLINED)
    elif call.record.state == "ringing":
        await call.end(
            by="phone", reason="caller hung up before an answer", result=results.NO_ANSWER
        )
    elif call.record.phone_left_at is not None:
        raise ControlError(409, "the phone already hung up")
    elif call.party.phone_leaves():
        pass  # a participant the bot added is still on: the call goes on without the phone
    else:
        await call.end(by="phone", reason="the phone hung up", result=results.PHONE_HUNG_UP)
    return _json(call.record.model_dump(mode="json"))


def _added_raw_id(request: web.Request) -> str:
    return f"4:{request.match_info['number']}"


async def participant_press(request: web.Request) -> web.Response:
    """Keys pressed by a phone the bot added to the call (a warm transfer's agent)."""
    call, body = _call(request), await _parse(request, PressRequest)
    _require_connected(call)
    try:
        call.party.press(_added_raw_id(request), body.tones)
    except KeyError as exc:
        raise ControlError(409, f"{request.match_info['number']} is not in the call") from exc
    except ValueError as exc:
        raise ControlError(400, str(exc)) from exc
    return _json({"pressed": body.tones})


async def participant_hang_up(request: web.Request) -> web.Response:
    """A phone the bot added hangs up; the call goes on without it."""
    call = _call(request)
    try:
        record = call.party.hang_up(_added_raw_id(request))
    except KeyError as exc:
        raise ControlError(409, f"{request.match_info['number']} is not in the call") from exc
    return _json(record.model_dump(mode="json"))


async def received_audio(request: web.Request) -> web.Response:
    call = _call(request)
    pcm = bytes(call.received_audio)
    headers = {"X-Sample-Rate": str(call.record.media.sample_rate or 0)}
    return web.Response(body=pcm, headers=headers, content_type="application/octet-stream")


async def validations(request: web.Request) -> web.Response:
    items = request.app[EMULATOR_KEY].event_grid.validations
    return _json([v.model_dump(mode="json") for v in items])


async def validate(request: web.Request) -> web.Response:
    """The validationUrl of the handshake event (manual validation)."""
    if not request.app[EMULATOR_KEY].event_grid.validate_manually(request.query.get("code", "")):
        raise ControlError(404, "unknown validation code")
    return _json({"validated": True})


async def reset(request: web.Request) -> web.Response:
    await request.app[EMULATOR_KEY].reset()
    request.app[SMS_KEY].reset()
    return _json({"reset": True})


def _require_connected(call: Call) -> None:
    if call.record.state != "connected":
        raise ControlError(409, f"the call is {call.record.state}, not connected")


def _media_rate(call: Call) -> int:
    rate = call.record.media.sample_rate
    if rate is None:
        raise ControlError(409, "the call has no media streaming configured")
    return rate


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/_emulator/info", info)
    r.add_get("/_emulator/config", get_config)
    r.add_patch("/_emulator/config", patch_config)
    r.add_post("/_emulator/phones", add_phone)
    r.add_get("/_emulator/phones", list_phones)
    r.add_post("/_emulator/phones/{number}/greeting", set_greeting)
    r.add_post("/_emulator/dial", dial)
    r.add_get("/_emulator/calls", list_calls)
    r.add_get("/_emulator/calls/{id}", get_call)
    r.add_post("/_emulator/calls/{id}/press", press)
    r.add_post("/_emulator/calls/{id}/say", say)
    r.add_post("/_emulator/calls/{id}/audio", play_audio)
    r.add_post("/_emulator/calls/{id}/silence", silence)
    r.add_post("/_emulator/calls/{id}/hangup", hang_up)
    r.add_get("/_emulator/calls/{id}/received-audio", received_audio)
    r.add_post("/_emulator/calls/{id}/participants/{number}/press", participant_press)
    r.add_post("/_emulator/calls/{id}/participants/{number}/hangup", participant_hang_up)
    r.add_get("/_emulator/eventgrid/validations", validations)
    r.add_get("/_emulator/eventgrid/validate", validate)
    r.add_post("/_emulator/reset", reset)
