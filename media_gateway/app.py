"""The media WebSocket endpoint: `/media/{call_id}/{token}`.

The token is checked against the one the call's workflow holds before any audio is read. A
session keeps only live audio state; the conversation lives in the workflow, so a gateway
restart loses nothing (ACS is asked to stream again, to a healthy gateway).

This first version authenticates, follows the stream (format, frames, DTMF) and exposes what it
saw; listening (VAD, STT) and speaking (TTS from the sentence stream) build on these sessions.
"""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web
from temporalio.client import Client
from temporalio.service import RPCError

from domain import attributes
from media_gateway.protocol import AudioFrame, AudioMetadata, Dtmf, parse
from workflows.call import CallWorkflow

log = logging.getLogger(__name__)

POLICY_VIOLATION = 4401  # application close code: authentication failed


@dataclass
class Session:
    call_id: str
    connection_id: str | None
    started: float = field(default_factory=time.monotonic)
    metadata: AudioMetadata | None = None
    frames: int = 0
    silent_frames: int = 0
    audio_bytes: int = 0
    dtmf: list[str] = field(default_factory=list)
    rejected_messages: int = 0
    closed: bool = False
    socket: web.WebSocketResponse | None = field(default=None, repr=False)


SESSIONS = web.AppKey("sessions", dict[str, list[Session]])
TEMPORAL = web.AppKey("temporal", Client)


async def _token_ok(client: Client, call_id: str, token: str) -> bool:
    handle = client.get_workflow_handle_for(CallWorkflow.run, attributes.workflow_id_for(call_id))
    try:
        call = await handle.query(CallWorkflow.get_state)
    except RPCError:
        return False
    return bool(call.media_token) and hmac.compare_digest(call.media_token or "", token)


async def media(request: web.Request) -> web.WebSocketResponse:
    call_id = request.match_info["call_id"]
    socket = web.WebSocketResponse(heartbeat=20)
    await socket.prepare(request)
    if not await _token_ok(request.app[TEMPORAL], call_id, request.match_info["token"]):
        log.warning("media for call %s refused: bad token", call_id)
        await socket.close(code=POLICY_VIOLATION, message=b"unauthorized")
        return socket
    session = Session(call_id, request.headers.get("x-ms-call-connection-id"), socket=socket)
    request.app[SESSIONS].setdefault(call_id, []).append(session)
    log.info("media for call %s connected (connection %s)", call_id, session.connection_id)
    try:
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                continue
            _follow(session, message.data)
    finally:
        session.closed = True
        log.info("media for call %s closed after %d frames", call_id, session.frames)
    return socket


def _follow(session: Session, text: str) -> None:
    try:
        item = parse(text)
    except (ValueError, KeyError, TypeError) as exc:
        session.rejected_messages += 1
        log.warning("call %s: malformed media message rejected: %s", session.call_id, exc)
        return
    if isinstance(item, AudioMetadata):
        session.metadata = item
    elif isinstance(item, AudioFrame):
        session.frames += 1
        session.audio_bytes += len(item.pcm)
        session.silent_frames += item.silent
    elif isinstance(item, Dtmf):
        session.dtmf.append(item.tone)


async def close_sessions(app: web.Application) -> None:
    """Close every live media socket (shutdown: ACS then streams to another gateway)."""
    for sessions in app[SESSIONS].values():
        for session in sessions:
            if session.socket is not None and not session.closed:
                await session.socket.close()


async def health(request: web.Request) -> web.Response:
    live = sum(1 for s in request.app[SESSIONS].values() for x in s if not x.closed)
    return web.json_response({"status": "ok", "live_sessions": live})


def create_app(client: Client) -> web.Application:
    app = web.Application()
    app[TEMPORAL] = client
    app[SESSIONS] = {}
    app.router.add_get("/media/{call_id}/{token}", media)
    app.router.add_get("/health", health)
    app.on_shutdown.append(close_sessions)
    return app
