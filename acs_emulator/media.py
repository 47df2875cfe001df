"""The media WebSocket: ACS is the client; it streams the phone's audio in real time."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from acs_emulator.models import MediaRecord

log = logging.getLogger(__name__)

FRAME_S = 0.02
MAX_RECEIVED_BYTES = 64 * 1024 * 1024
RATES = {"pcm16KMono": 16_000, "pcm24KMono": 24_000}


def frame_bytes(sample_rate: int) -> int:
    """Bytes in 20 ms of PCM16 mono: 640 at 16 kHz, 960 at 24 kHz."""
    return sample_rate * 2 // 50


def _get(obj: Any, key: str) -> Any:
    """camelCase as ACS sends, or PascalCase as Microsoft's samples send."""
    if not isinstance(obj, dict):
        return None
    return obj.get(key, obj.get(key[:1].upper() + key[1:]))


class PhoneAudio:
    """What the phone says into the call: queued PCM, cut into frames on demand."""

    def __init__(self) -> None:
        self._chunks: deque[tuple[bytearray, bool]] = deque()

    def push(self, pcm: bytes, *, silent: bool = False) -> None:
        if pcm:
            self._chunks.append((bytearray(pcm), silent))

    def clear(self) -> None:
        self._chunks.clear()

    @property
    def pending_bytes(self) -> int:
        return sum(len(chunk) for chunk, _ in self._chunks)

    def next_frame(self, size: int) -> tuple[bytes, bool]:
        """One frame; silence (flagged silent) when nothing is queued; short tails padded."""
        if not self._chunks:
            return bytes(size), True
        chunk, silent = self._chunks[0]
        frame = bytes(chunk[:size])
        del chunk[:size]
        if not chunk:
            self._chunks.popleft()
        return frame + bytes(size - len(frame)), silent


class MediaSession:
    """One WebSocket connection to the bot's transport URL."""

    def __init__(
        self,
        *,
        http: aiohttp.ClientSession,
        url: str,
        headers: dict[str, str],
        sample_rate: int,
        subscription_id: str,
        participant_raw_id: str,
        record: MediaRecord,
        audio: PhoneAudio,
        received: bytearray,
        on_change: Callable[[], None],
        on_server_close: Callable[[], None],
        verify_tls: bool = True,
    ) -> None:
        self._http = http
        self._url = url
        self._headers = headers
        self.sample_rate = sample_rate
        self._frame_bytes = frame_bytes(sample_rate)
        self._subscription_id = subscription_id
        self._participant = participant_raw_id
        self._record = record
        self._audio = audio
        self._on_change = on_change
        self._on_server_close = on_server_close
        self._verify_tls = verify_tls
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._opened_at = 0.0
        self._playout_end = 0.0
        self.received = received  # the bot's audio, kept by the call across reconnections

    async def connect(self, timeout_s: float) -> str | None:
        """Open the socket and start streaming; the error text when it cannot connect."""
        try:
            self._ws = await self._http.ws_connect(
                self._url,
                headers=self._headers,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=timeout_s),
                ssl=self._verify_tls,
                max_msg_size=16 * 1024 * 1024,
            )
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"
        loop = asyncio.get_running_loop()
        self._opened_at = loop.time()
        metadata = {
            "subscriptionId": self._subscription_id,
            "encoding": "PCM",
            "sampleRate": self.sample_rate,
            "channels": 1,
            "length": self._frame_bytes,
        }
        await self._ws.send_str(json.dumps({"kind": "AudioMetadata", "audioMetadata": metadata}))
        self._record.connected = True
        self._record.metadata_sent = metadata
        self._on_change()
        self._tasks = [
            asyncio.create_task(self._send_loop(self._ws), name="acs-emulator-media-send"),
            asyncio.create_task(self._receive_loop(self._ws), name="acs-emulator-media-recv"),
        ]
        return None

    def send_dtmf(self, tone: str) -> None:
        if self._ws is None or self._ws.closed:
            return
        message = json.dumps({"kind": "DtmfData", "dtmfData": {"data": tone}})
        task = asyncio.create_task(self._ws.send_str(message))
        task.add_done_callback(_ignore_result)
        self._record.dtmf_sent.append(tone)

    async def close(self) -> None:
        """Close from the emulator's side (stop streaming, hang up, transfer)."""
        self._closing = True
        ws = self._ws
        if ws is not None and not ws.closed:
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                await asyncio.wait_for(ws.close(), 2.0)
            self._record.closed_by = self._record.closed_by or "emulator"
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._record.connected = False

    async def _send_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        wall = datetime.now(UTC)
        n = 0
        while not ws.closed:
            # Deadlines from one start time, so sleep jitter never accumulates into drift.
            delay = start + n * FRAME_S - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -1.0:  # the loop stalled for over a second: resync, do not burst
                start = loop.time() - n * FRAME_S
            pcm, silent = self._audio.next_frame(self._frame_bytes)
            stamp = wall + timedelta(seconds=n * FRAME_S)
            message = {
                "kind": "AudioData",
                "audioData": {
                    "timestamp": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "participantRawID": self._participant,
                    "data": base64.b64encode(pcm).decode(),
                    "silent": silent,
                },
            }
            try:
                await ws.send_str(json.dumps(message))
            except (aiohttp.ClientError, ConnectionError, RuntimeError):
                return
            n += 1
            self._record.frames_sent += 1
            if silent:
                self._record.silent_frames_sent += 1
            else:
                self._record.audio_frames_sent += 1

    async def _receive_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                self._handle(message.data)
            elif message.type == aiohttp.WSMsgType.ERROR:
                break
        self._record.connected = False
        if self._closing:
            return
        self._record.closed_by = "server"
        self._record.close_code = ws.close_code
        self._closing = True
        self._on_server_close()

    def _handle(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            self._record.frames_ignored += 1
            return
        kind = _get(message, "kind")
        now = asyncio.get_running_loop().time()
        if kind == "AudioData":
            data = _get(_get(message, "audioData"), "data")
            if not self._record.bidirectional or not isinstance(data, str):
                self._record.frames_ignored += 1
                return
            pcm = base64.b64decode(data)
            self._record.audio_frames_received += 1
            self._record.audio_bytes_received += len(pcm)
            if len(self.received) + len(pcm) <= MAX_RECEIVED_BYTES:
                self.received += pcm
            # A playout clock: what StopAudio cuts is what the phone has not heard yet.
            ms = len(pcm) / (2 * self.sample_rate) * 1000
            self._playout_end = max(now, self._playout_end) + ms / 1000
            self._record.bot_audio_heard_ms += ms
        elif kind == "StopAudio":
            discarded = max(0.0, self._playout_end - now) * 1000
            self._playout_end = now
            self._record.bot_audio_discarded_ms += discarded
            self._record.bot_audio_heard_ms -= discarded
            self._record.stop_audio_count += 1
            self._record.stop_audio_times_s.append(round(now - self._opened_at, 3))
            self._on_change()
        else:
            self._record.frames_ignored += 1


def _ignore_result(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()
