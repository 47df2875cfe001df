"""The bot's side of the wire for emulator tests.

One aiohttp server plays three parts: the callback receiver (checks each JWT against the
emulator's JWKS), the Event Grid webhook (answers the validation handshake) and the media
WebSocket endpoint (records every message, can talk back and hang up).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import jwt
from aiohttp import web


@dataclass
class Callback:
    event: dict[str, Any]
    jwt_ok: bool
    jwt_error: str = ""

    @property
    def name(self) -> str:
        return str(self.event["type"]).removeprefix("Microsoft.Communication.")

    @property
    def connection_id(self) -> str:
        return str(self.event["data"]["callConnectionId"])


@dataclass
class MediaConnection:
    headers: dict[str, str]
    ws: web.WebSocketResponse
    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [m for _, m in self.messages if m.get("kind") == kind]


class BotStub:
    def __init__(self, *, jwks_url: str, audience: str, issuer: str) -> None:
        self.jwks_url = jwks_url
        self.audience = audience
        self.issuer = issuer
        self.callbacks: list[Callback] = []
        self.incoming_calls: list[dict[str, Any]] = []
        self.validation_headers: list[dict[str, str]] = []
        self.validation: Literal["echo", "wrong", "accepted"] = "echo"
        self.callback_status = 200
        self.accept_media = True
        self.media: list[MediaConnection] = []
        self.base_url = ""
        self._keys: dict[str, Any] = {}
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/media"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/callbacks", self._callback)
        app.router.add_post("/eventgrid", self._eventgrid)
        app.router.add_get("/media", self._media)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        async with aiohttp.ClientSession() as http, http.get(self.jwks_url) as response:
            jwks = await response.json()
        self._keys = {k["kid"]: jwt.PyJWK(k).key for k in jwks["keys"]}

    async def stop(self) -> None:
        for conn in self.media:
            await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def reset(self) -> None:
        self.callbacks.clear()
        self.incoming_calls.clear()
        self.validation_headers.clear()
        self.media.clear()
        self.validation = "echo"
        self.callback_status = 200
        self.accept_media = True

    def events_for(self, connection_id: str) -> list[Callback]:
        return [c for c in self.callbacks if c.connection_id == connection_id]

    def names_for(self, connection_id: str) -> list[str]:
        return [c.name for c in self.events_for(connection_id)]

    async def wait_for(self, connection_id: str, name: str, within_s: float = 5.0) -> Callback:
        async with asyncio.timeout(within_s):
            while True:
                for callback in self.events_for(connection_id):
                    if callback.name == name:
                        return callback
                await self._wait_change()

    async def wait_media(self, count: int = 1, within_s: float = 5.0) -> MediaConnection:
        async with asyncio.timeout(within_s):
            while len(self.media) < count:
                await self._wait_change()
        return self.media[count - 1]

    async def _wait_change(self) -> None:
        event = self._changed
        await event.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _callback(self, request: web.Request) -> web.Response:
        ok, error = True, ""
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            kid = jwt.get_unverified_header(token)["kid"]
            jwt.decode(
                token,
                self._keys[kid],
                algorithms=["RS256"],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "iat", "nbf", "iss", "aud"]},
            )
        except (jwt.PyJWTError, KeyError) as exc:
            ok, error = False, str(exc)
        for event in await request.json():
            self.callbacks.append(Callback(event, ok, error))
        self._notify()
        return web.Response(status=self.callback_status)

    async def _eventgrid(self, request: web.Request) -> web.Response:
        events = await request.json()
        if request.headers.get("aeg-event-type") == "SubscriptionValidation":
            self.validation_headers.append(dict(request.headers))
            code = events[0]["data"]["validationCode"]
            if self.validation == "accepted":
                return web.Response(status=202)
            answer = code if self.validation == "echo" else "nope"
            return web.json_response({"validationResponse": answer})
        self.incoming_calls.extend({**e, "_headers": dict(request.headers)} for e in events)
        self._notify()
        return web.Response(status=200)

    async def _media(self, request: web.Request) -> web.StreamResponse:
        if not self.accept_media:
            return web.Response(status=403)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        conn = MediaConnection(headers=dict(request.headers), ws=ws)
        self.media.append(conn)
        self._notify()
        loop = asyncio.get_running_loop()
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                conn.messages.append((loop.time(), json.loads(message.data)))
        conn.closed.set()
        self._notify()
        return ws
