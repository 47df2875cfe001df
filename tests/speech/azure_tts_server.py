"""A local Azure Speech text-to-speech service: the real Speech SDK connects to it.

It speaks the service's WebSocket protocol as far as synthesis needs (text messages with
`Path:` headers; `turn.start`, audio frames with a 2-byte header length, `turn.end`) and
records what the SDK sent: the connection's path and query (a custom voice's `deploymentId`)
and each request's SSML. Every request is answered with `audio`, a fixed PCM pattern.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import WSMsgType, web

AUDIO = bytes(range(256)) * 25  # 6400 bytes, 200 ms of 16 kHz PCM16


@dataclass
class Request:
    path_qs: str  # of the WebSocket connection
    ssml: str


@dataclass
class AzureTtsServer:
    audio: bytes = AUDIO
    requests: list[Request] = field(default_factory=list)
    connections: list[str] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def endpoint(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def __aenter__(self) -> AzureTtsServer:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._connection)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _connection(self, request: web.Request) -> web.WebSocketResponse:
        self.connections.append(request.path_qs)
        ws = web.WebSocketResponse(protocols=("USP",))
        await ws.prepare(request)
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            head, _, body = str(message.data).partition("\r\n\r\n")
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in head.split("\r\n"))
            }
            if headers.get("path") != "ssml":
                continue
            self.requests.append(Request(request.path_qs, body))
            await self._answer(ws, headers.get("x-requestid", ""))
        return ws

    async def _answer(self, ws: web.WebSocketResponse, request_id: str) -> None:
        json_head = f"X-RequestId:{request_id}\r\nContent-Type:application/json; charset=utf-8"
        await ws.send_str(f'{json_head}\r\nPath:turn.start\r\n\r\n{{"context":{{}}}}')
        audio_head = (
            f"X-RequestId:{request_id}\r\nContent-Type:raw-16khz-16bit-mono-pcm\r\nPath:audio\r\n"
        ).encode()
        await ws.send_bytes(len(audio_head).to_bytes(2, "big") + audio_head + self.audio)
        await ws.send_str(f"{json_head}\r\nPath:turn.end\r\n\r\n")
