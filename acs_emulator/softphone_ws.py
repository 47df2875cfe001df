"""`/softphone`: the browser softphone page, its scripts and its WebSocket `/softphone/ws`.

Protocol of the socket (JSON text both ways; binary frames are PCM16LE mono at the call's
rate, the microphone from the page, the bot's audio to it):

- page → emulator: `{"type": "register", "number": "+33…"}` (an emulator phone), `dial`,
  `answer`, `decline`, `hangup`, `{"type": "dtmf", "tones": "12#"}`.
- emulator → page: `hello` (bot number, phones), `registered`, `state` (idle, incoming, calling,
  connected; the call's id, direction, sample rate, whether media streams), `pressed`,
  `stop_audio` (barge-in: drop unplayed audio), `ended` (by whom, why), `error` (code,
  message, the request it answers). A bad request gets an error; the socket stays open.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Annotated, Any, Literal

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from acs_emulator.rest import EMULATOR_KEY
from acs_emulator.softphone_line import LineError, SoftphoneLine

log = logging.getLogger(__name__)

PAGE_DIR = Path(__file__).with_name("softphone")
ASSETS = {
    "softphone.js": "text/javascript",
    "worklets.js": "text/javascript",
    "softphone.css": "text/css",
}
MAX_MESSAGE_BYTES = 256 * 1024  # a second of 24 kHz PCM16 is 48 KB
MAX_TEXT_CHARS = 4096


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Register(_Request):
    type: Literal["register"]
    number: str = Field(max_length=32)


class Dial(_Request):
    type: Literal["dial"]
    display_name: str = Field(default="", max_length=64)


class Answer(_Request):
    type: Literal["answer"]


class Decline(_Request):
    type: Literal["decline"]


class HangUp(_Request):
    type: Literal["hangup"]


class Press(_Request):
    type: Literal["dtmf"]
    tones: str = Field(min_length=1, max_length=32)


Request = Annotated[
    Register | Dial | Answer | Decline | HangUp | Press, Field(discriminator="type")
]
REQUESTS = TypeAdapter[Request](Request)
TYPES = ("register", "dial", "answer", "decline", "hangup", "dtmf")


class BadRequest(Exception):
    def __init__(self, code: str, message: str, request: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.request = code, message, request


def parse_request(text: str) -> Request:
    """One page message, or BadRequest saying what is wrong with it."""
    if len(text) > MAX_TEXT_CHARS:
        raise BadRequest("bad_message", f"messages are at most {MAX_TEXT_CHARS} characters")
    try:
        body = json.loads(text)
    except ValueError as exc:
        raise BadRequest("bad_json", f"not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("bad_message", "a message is a JSON object with a 'type'")
    kind = body.get("type")
    if kind not in TYPES:
        raise BadRequest(
            "bad_message", f"unknown message type {kind!r}: expected one of {', '.join(TYPES)}"
        )
    try:
        return REQUESTS.validate_python(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'message'}: {e['msg']}"
            for e in exc.errors()
        )
        raise BadRequest("bad_message", f"bad {kind!r} message: {problems}", kind) from exc


class _Socket:
    """The line's outbox: one writer at a time, nothing sent once the page is gone."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws
        self._lock = asyncio.Lock()

    async def send_json(self, body: dict[str, Any]) -> None:
        await self._send(json.dumps(body))

    async def send_audio(self, pcm: bytes) -> None:
        await self._send(pcm)

    async def _send(self, data: str | bytes) -> None:
        async with self._lock:
            if self._ws.closed:
                return
            try:
                if isinstance(data, bytes):
                    await self._ws.send_bytes(data)
                else:
                    await self._ws.send_str(data)
            except (ConnectionError, RuntimeError, aiohttp.ClientError):
                return  # the page closed meanwhile: its line is being closed too


async def _dispatch(line: SoftphoneLine, request: Request) -> None:
    match request:
        case Register():
            await line.register(request.number)
        case Dial():
            await line.dial(request.display_name)
        case Answer():
            await line.answer()
        case Decline():
            await line.decline()
        case HangUp():
            await line.hang_up()
        case Press():
            await line.press(request.tones)


async def _on_text(line: SoftphoneLine, socket: _Socket, text: str) -> None:
    request: Request | None = None
    try:
        request = parse_request(text)
        await _dispatch(line, request)
    except BadRequest as exc:
        await _error(socket, exc.code, exc.message, exc.request)
    except LineError as exc:
        await _error(socket, exc.code, exc.message, request.type if request else None)
    except Exception as exc:  # a bug must show on the page, not kill the socket
        log.exception("softphone: %s failed", request)
        kind = request.type if request else None
        await _error(socket, "internal", f"{type(exc).__name__}: {exc}", kind)


async def _error(socket: _Socket, code: str, message: str, request: str | None) -> None:
    body = {"type": "error", "code": code, "message": message, "request": request}
    await socket.send_json(body)


async def softphone_socket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=MAX_MESSAGE_BYTES)
    await ws.prepare(request)
    emulator = request.app[EMULATOR_KEY]
    socket = _Socket(ws)
    line = SoftphoneLine(emulator, socket)
    phones = [phone.number for phone in emulator.phones.all()]
    await socket.send_json(
        {"type": "hello", "bot_number": emulator.config.bot_number, "phones": phones}
    )
    try:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                await _on_text(line, socket, message.data)
            elif message.type == aiohttp.WSMsgType.BINARY:
                try:
                    await line.audio(message.data)
                except LineError as exc:
                    await _error(socket, exc.code, exc.message, "audio")
    finally:
        await line.close()
    return ws


async def page(_request: web.Request) -> web.FileResponse:
    return _file("index.html", "text/html")


async def asset(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    content_type = ASSETS.get(name)
    if content_type is None:  # a fixed list: no path ever reaches the file system unchecked
        raise web.HTTPNotFound(text=f"no softphone file {name!r}")
    return _file(name, content_type)


def _file(name: str, content_type: str) -> web.FileResponse:
    headers = {"Content-Type": f"{content_type}; charset=utf-8", "Cache-Control": "no-cache"}
    return web.FileResponse(PAGE_DIR / name, headers=headers)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/softphone", page)
    app.router.add_get("/softphone/ws", softphone_socket)
    app.router.add_get("/softphone/{name}", asset)
