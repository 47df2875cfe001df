"""The media WebSocket endpoint: `/media/{call_id}/{token}`.

The token is checked before any audio is read: derived from the call id under
`telephony.call_secret_key` (`core.call_secrets`), and the call must exist in Temporal. A
session keeps only live audio state; the conversation lives in the workflow, so a gateway
restart loses nothing (ACS is asked to stream again, to a healthy gateway).

Every session follows the stream (format, frames, DTMF) and exposes what it saw. When the app
is given speech engines and Redis, each session also runs a `CallSession` (listening, speaking,
barge-in; see `media_gateway.session`), started once the audio format is known.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from aiohttp import WSMessage, WSMsgType, web
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import RedisError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core import call_secrets
from core.settings import get_settings
from domain import attributes
from media_gateway.control import CallView, TemporalCallControl, view_of
from media_gateway.engines import Engines
from media_gateway.protocol import (
    FORMAT_REFUSED,
    INVALID_PAYLOAD,
    MAX_MESSAGE_BYTES,
    AudioFrame,
    AudioMetadata,
    Dtmf,
    ProtocolError,
    parse,
)
from media_gateway.session import CallSession, FlagsSource, SessionConfig, default_flags
from media_gateway.telemetry import GatewayTelemetry
from workflows.call import CallWorkflow

log = logging.getLogger(__name__)

POLICY_VIOLATION = 4401  # application close code: authentication failed
TRY_AGAIN_LATER = 1013  # the token could not be checked (Temporal busy or away)
INTERNAL_ERROR = 1011  # a bug of ours: the socket still gets a close frame
# Malformed messages a session may send before it is closed: ACS sends none, so a few is
# already a broken or hostile client, and logging each would flood the log.
MAX_REJECTED = 5
# Closed sessions are kept for inspection (health, tests), but not without bound: a client
# reconnecting in a loop must not grow the gateway.
KEEP_CLOSED_PER_CALL = 4
KEEP_CALLS = 1000


@dataclass
class Session:
    call_id: str
    connection_id: str | None
    accepted_at: float  # monotonic: the socket was accepted (before the token check)
    view: CallView | None = None  # the call when its token was checked
    started: float = field(default_factory=time.monotonic)
    metadata: AudioMetadata | None = None
    frames: int = 0
    silent_frames: int = 0
    audio_bytes: int = 0
    dtmf: list[str] = field(default_factory=list)
    rejected_messages: int = 0
    odd_byte: bytes = b""  # the half sample at the end of an odd-length frame, for the next one
    closed: bool = False
    socket: web.WebSocketResponse | None = field(default=None, repr=False)
    call: CallSession | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Speech:
    """What live audio needs besides Temporal: the engines, Redis (sentences) and the flags."""

    engines: Engines
    redis: Redis
    flags: FlagsSource = default_flags
    config: SessionConfig = field(default_factory=SessionConfig)
    telemetry: GatewayTelemetry | None = None  # None: the global OpenTelemetry providers


SESSIONS = web.AppKey("sessions", dict[str, list[Session]])
TEMPORAL = web.AppKey("temporal", Client)
SPEECH = web.AppKey("speech", Speech)
CALL_SECRET_KEY = web.AppKey("call_secret_key", SecretStr)


class TokenNotChecked(Exception):
    """Temporal could not be asked (busy, restarting, unreachable): neither yes nor no."""


async def _authorised(client: Client, key: SecretStr, call_id: str, token: str) -> CallView | None:
    """The call as the gateway needs it, when `token` is the call's media token; None when it
    is not (or there is no such call). Raises `TokenNotChecked` when Temporal cannot answer."""
    handle = client.get_workflow_handle_for(CallWorkflow.run, attributes.workflow_id_for(call_id))
    try:
        call = await handle.query(CallWorkflow.get_state)
    except RPCError as exc:
        if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
            return None
        raise TokenNotChecked(f"{exc.status.name if exc.status else 'error'}: {exc}") from exc
    except RuntimeError as exc:  # the SDK's "Failed client connect": no server to ask
        raise TokenNotChecked(str(exc)) from exc
    # Derived from the key; a call started before derivation may still hold a random one.
    if not call_secrets.matches(token, call_secrets.media_token(key, call_id), call.media_token):
        return None
    return view_of(call)


async def media(request: web.Request) -> web.WebSocketResponse:
    accepted_at = time.monotonic()
    call_id = request.match_info["call_id"]
    socket = web.WebSocketResponse(heartbeat=20, max_msg_size=MAX_MESSAGE_BYTES)
    await socket.prepare(request)
    try:
        view = await _authorised(
            request.app[TEMPORAL],
            request.app[CALL_SECRET_KEY],
            call_id,
            request.match_info["token"],
        )
    except TokenNotChecked as exc:
        # Not the caller's fault: ACS reports the stream stopped, the workflow asks again.
        log.warning("media for call %s closed: its token could not be checked (%s)", call_id, exc)
        await socket.close(code=TRY_AGAIN_LATER, message=b"try again later")
        return socket
    if view is None:
        log.warning("media for call %s refused: bad token", call_id)
        await socket.close(code=POLICY_VIOLATION, message=b"unauthorized")
        return socket
    session = Session(
        call_id,
        request.headers.get("x-ms-call-connection-id"),
        accepted_at=accepted_at,
        view=view,
        socket=socket,
    )
    _remember(request.app[SESSIONS], session)
    log.info("media for call %s connected (connection %s)", call_id, session.connection_id)
    try:
        async for message in socket:
            refused = await _handle(request.app, session, message)
            if refused is not None:
                code, reason = refused
                log.warning("media for call %s closed (%d): %s", call_id, code, reason)
                await socket.close(code=code, message=reason.encode()[:120])
                break
    except Exception:  # whatever it was, the client gets a close frame, not a dead socket
        log.exception("media for call %s failed", call_id)
        await socket.close(code=INTERNAL_ERROR, message=b"internal error")
    finally:
        session.closed = True
        _forget(request.app[SESSIONS], call_id)
        if session.call is not None:
            await session.call.close()
        log.info("media for call %s closed after %d frames", call_id, session.frames)
    return socket


def _remember(sessions: dict[str, list[Session]], session: Session) -> None:
    """Add `session`, forgetting the oldest closed ones beyond the limits."""
    sessions.setdefault(session.call_id, []).append(session)
    _forget(sessions, session.call_id)


def _forget(sessions: dict[str, list[Session]], call_id: str) -> None:
    """Drop the oldest closed sessions of `call_id`, and of ended calls, beyond the limits."""
    kept = sessions.get(call_id, [])
    closed = [s for s in kept if s.closed]
    for old in closed[: max(len(closed) - KEEP_CLOSED_PER_CALL, 0)]:
        kept.remove(old)
    if len(sessions) > KEEP_CALLS:
        ended = [c for c, ss in sessions.items() if all(s.closed for s in ss)]
        for gone in ended[: len(sessions) - KEEP_CALLS]:
            del sessions[gone]


async def _handle(
    app: web.Application, session: Session, message: WSMessage
) -> tuple[int, str] | None:
    """Follow one message; the close code and reason when the session must end."""
    if message.type == WSMsgType.BINARY:
        return _rejected(session, "binary message")
    if message.type != WSMsgType.TEXT:
        return None
    try:
        item = parse(message.data)
    except ProtocolError as exc:
        # A format the gateway cannot use ends the stream before any audio is processed.
        return (exc.code, str(exc)) if exc.fatal else _rejected(session, str(exc))
    if isinstance(item, AudioMetadata):
        if session.metadata is not None and session.metadata != item:
            return FORMAT_REFUSED, "audio format changed during the stream"
        session.metadata = item
    elif isinstance(item, AudioFrame):
        session.frames += 1
        session.audio_bytes += len(item.pcm)
        session.silent_frames += item.silent
        item = _whole_samples(session, item)
    elif isinstance(item, Dtmf):
        session.dtmf.append(item.tone)
    await _live(app, session, item)
    return None


def _rejected(session: Session, reason: str) -> tuple[int, str] | None:
    session.rejected_messages += 1
    if session.rejected_messages == 1:
        log.warning("call %s: malformed media message rejected: %s", session.call_id, reason)
    if session.rejected_messages >= MAX_REJECTED:
        return INVALID_PAYLOAD, f"{session.rejected_messages} malformed messages"
    return None


def _whole_samples(session: Session, frame: AudioFrame) -> AudioFrame:
    """The frame's PCM cut to whole 16-bit samples, a trailing odd byte carried to the next
    frame: dropping or keeping it would shift every following sample by one byte."""
    pcm = session.odd_byte + frame.pcm if session.odd_byte else frame.pcm
    session.odd_byte = pcm[-1:] if len(pcm) % 2 else b""
    if session.odd_byte:
        pcm = pcm[:-1]
    return AudioFrame(pcm=pcm, silent=frame.silent, timestamp=frame.timestamp)


async def _live(
    app: web.Application, session: Session, item: AudioMetadata | AudioFrame | Dtmf | None
) -> None:
    """Hand the message to the session's `CallSession`, started on the audio format."""
    speech = app.get(SPEECH)
    if speech is None or session.socket is None:
        return
    if isinstance(item, AudioMetadata) and session.call is None:
        call = CallSession(
            session.call_id,
            control=TemporalCallControl(app[TEMPORAL], session.call_id),
            engines=speech.engines,
            redis=speech.redis,
            send=session.socket.send_str,
            sample_rate=item.sample_rate,
            flags=speech.flags,
            config=speech.config,
            telemetry=speech.telemetry,
            media_started_at=session.accepted_at,
        )
        try:
            # The view read for the token is fresh: one query less before the greeting.
            view, session.view = session.view, None
            await call.start(view)
        except (RPCError, RedisError):  # no live audio for this socket; the call goes on
            log.exception("call %s: live audio could not start", session.call_id)
            return
        session.call = call
    elif isinstance(item, AudioFrame) and session.call is not None:
        await session.call.feed(item.pcm)
    elif isinstance(item, Dtmf) and session.call is not None:
        session.call.dtmf(item.tone)


async def close_sessions(app: web.Application) -> None:
    """Close every live media socket (shutdown: ACS then streams to another gateway)."""
    for sessions in app[SESSIONS].values():
        for session in sessions:
            if session.socket is not None and not session.closed:
                await session.socket.close()


async def health(request: web.Request) -> web.Response:
    live = sum(1 for s in request.app[SESSIONS].values() for x in s if not x.closed)
    return web.json_response({"status": "ok", "live_sessions": live})


def create_app(
    client: Client, speech: Speech | None = None, *, call_secret_key: SecretStr | None = None
) -> web.Application:
    """Without `speech` the gateway only authenticates and follows streams. Media tokens are
    checked under `call_secret_key`, by default the configured `telephony.call_secret_key`."""
    app = web.Application()
    app[TEMPORAL] = client
    app[CALL_SECRET_KEY] = call_secret_key or get_settings().telephony.call_secret_key
    if speech is not None:
        app[SPEECH] = speech
    app[SESSIONS] = {}
    app.router.add_get("/media/{call_id}/{token}", media)
    app.router.add_get("/health", health)
    app.on_shutdown.append(close_sessions)
    return app
