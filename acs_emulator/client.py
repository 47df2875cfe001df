"""Typed async client of the scripted-caller API, for tests and benchmarks."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp

from acs_emulator.config import AnswerMode, Timings
from acs_emulator.models import (
    CallRecord,
    CallState,
    DialResult,
    EmulatorInfo,
    EventRecord,
    InboundSmsResult,
    PhoneConfig,
    SmsRecord,
    ValidationRecord,
)

T = TypeVar("T")


class EmulatorError(Exception):
    """The control API refused a request."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class EmulatorClient:
    """``async with EmulatorClient(base_url) as phone:`` then script the other end of calls.

    Where a method takes ``key``, it is a call connection id, or a phone number (``+1…``)
    meaning that number's most recent call.
    """

    def __init__(self, base_url: str, *, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._own_session = session is None

    async def __aenter__(self) -> EmulatorClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    # --- setup ----------------------------------------------------------------------------------

    async def info(self) -> EmulatorInfo:
        return EmulatorInfo.model_validate(await self._request("GET", "/_emulator/info"))

    async def configure(self, **changes: Any) -> Timings:
        """Change timings at runtime, e.g. ``configure(event_grid_url=..., time_scale=0.01)``."""
        return Timings.model_validate(await self._request("PATCH", "/_emulator/config", changes))

    async def reset(self) -> None:
        """Forget every call, phone, validation and repeatability entry (no events sent)."""
        await self._request("POST", "/_emulator/reset")

    async def add_phone(
        self,
        number: str,
        *,
        answer: AnswerMode = "auto",
        answer_delay_ms: float = 50.0,
        ring_timeout_ms: float | None = None,
        message_max_ms: float = 20_000.0,
        keys: str | None = None,
        hang_up_after_ms: float | None = None,
    ) -> PhoneConfig:
        """`keys` and `hang_up_after_ms` script a phone the bot adds to a call (a warm
        transfer's agent): the keys it presses when a recognize aimed at it listens ("1"
        accepts), and when it hangs up after joining."""
        phone = PhoneConfig(
            number=number,
            answer=answer,
            answer_delay_ms=answer_delay_ms,
            ring_timeout_ms=ring_timeout_ms,
            message_max_ms=message_max_ms,
            keys=keys,
            hang_up_after_ms=hang_up_after_ms,
        )
        body = await self._request("POST", "/_emulator/phones", phone.model_dump())
        return PhoneConfig.model_validate(body)

    async def set_greeting(self, number: str, pcm: bytes, sample_rate: int) -> PhoneConfig:
        """What the phone says as it answers (PCM16LE mono): "Hello?", or an answering
        machine's greeting and beep (with ``answer="voicemail"``)."""
        path = f"/_emulator/phones/{number.replace('+', '%2B')}/greeting?sample_rate={sample_rate}"
        return PhoneConfig.model_validate(await self._request("POST", path, raw=pcm))

    async def phones(self) -> list[PhoneConfig]:
        return [
            PhoneConfig.model_validate(p) for p in await self._request("GET", "/_emulator/phones")
        ]

    # --- calls ----------------------------------------------------------------------------------

    async def dial(
        self, from_number: str, to_number: str | None = None, *, display_name: str = ""
    ) -> DialResult:
        """The phone calls the bot: Event Grid handshake (first time), then IncomingCall."""
        body = {"from_number": from_number, "to_number": to_number, "display_name": display_name}
        return DialResult.model_validate(await self._request("POST", "/_emulator/dial", body))

    async def calls(self, number: str | None = None) -> list[CallRecord]:
        return (await self._poll(number, None, 0))[1]

    async def call(self, connection_id: str) -> CallRecord:
        return CallRecord.model_validate(
            await self._request("GET", f"/_emulator/calls/{connection_id}")
        )

    async def validations(self) -> list[ValidationRecord]:
        items = await self._request("GET", "/_emulator/eventgrid/validations")
        return [ValidationRecord.model_validate(v) for v in items]

    # --- waiting --------------------------------------------------------------------------------

    async def wait_for(
        self,
        predicate: Callable[[list[CallRecord]], T | None],
        *,
        number: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 (the helpers poll; a deadline is their API)
        what: str = "condition",
    ) -> T:
        """Long-poll until predicate(calls) returns something other than None."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        version: int | None = None
        calls: list[CallRecord] = []
        while True:
            remaining = deadline - loop.time()
            version, calls = await self._poll(number, version, max(0.0, min(remaining, 0.25)))
            found = predicate(calls)
            if found is not None:
                return found
            if loop.time() >= deadline:
                summary = [f"{c.phone_number} {c.state} {c.event_types()}" for c in calls]
                raise TimeoutError(
                    f"timed out after {timeout}s waiting for {what}; calls: {summary}"
                )

    async def wait_for_call(
        self,
        key: str,
        predicate: Callable[[CallRecord], bool] = lambda _: True,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 (the helpers poll; a deadline is their API)
        what: str = "call condition",
    ) -> CallRecord:
        number = key if key.startswith("+") else None

        def check(calls: list[CallRecord]) -> CallRecord | None:
            call = _select(calls, key)
            return call if call is not None and predicate(call) else None

        return await self.wait_for(check, number=number, timeout=timeout, what=f"{key}: {what}")

    async def wait_for_state(
        self,
        key: str,
        state: CallState,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 (the helpers poll; a deadline is their API)
    ) -> CallRecord:
        return await self.wait_for_call(
            key, lambda c: c.state == state, timeout=timeout, what=f"state {state}"
        )

    async def wait_for_event(
        self,
        key: str,
        event_type: str,
        *,
        count: int = 1,
        delivered: bool = True,
        timeout: float = 5.0,  # noqa: ASYNC109 (the helpers poll; a deadline is their API)
    ) -> EventRecord:
        """The count-th event of that type (by default once its delivery was attempted)."""

        def ready(call: CallRecord) -> bool:
            events = call.events_of(event_type)
            return len(events) >= count and (
                not delivered or events[count - 1].delivery is not None
            )

        call = await self.wait_for_call(key, ready, timeout=timeout, what=f"event {event_type}")
        return call.events_of(event_type)[count - 1]

    # --- the phone's side of a call -------------------------------------------------------------

    async def press(self, connection_id: str, tones: str) -> None:
        """DTMF: e.g. ``press(cid, "12#")``."""
        await self._request("POST", f"/_emulator/calls/{connection_id}/press", {"tones": tones})

    async def say(self, connection_id: str, text: str, *, confidence: float = 0.9) -> None:
        """Speech a running recognize hears (text only; no audio is streamed)."""
        body = {"text": text, "confidence": confidence}
        await self._request("POST", f"/_emulator/calls/{connection_id}/say", body)

    async def play_audio(self, connection_id: str, pcm: bytes, sample_rate: int) -> int:
        """Queue PCM16LE mono into the media stream; the rate must be the call's."""
        path = f"/_emulator/calls/{connection_id}/audio?sample_rate={sample_rate}"
        body = await self._request("POST", path, raw=pcm)
        return int(body["queued_bytes"])

    async def play_wav(self, connection_id: str, path: str | Path) -> int:
        with wave.open(str(path), "rb") as wav:
            if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
                raise ValueError(f"{path}: need 16-bit mono PCM")
            rate, pcm = wav.getframerate(), wav.readframes(wav.getnframes())
        return await self.play_audio(connection_id, pcm, rate)

    async def silence(self, connection_id: str, ms: float) -> None:
        await self._request("POST", f"/_emulator/calls/{connection_id}/silence", {"ms": ms})

    async def press_as(self, connection_id: str, number: str, tones: str) -> None:
        """Keys pressed by `number`, a phone the bot added to the call."""
        path = f"/_emulator/calls/{connection_id}/participants/{number.replace('+', '%2B')}/press"
        await self._request("POST", path, {"tones": tones})

    async def hang_up_as(self, connection_id: str, number: str) -> None:
        """`number`, a phone the bot added to the call, hangs up; the call goes on."""
        path = f"/_emulator/calls/{connection_id}/participants/{number.replace('+', '%2B')}/hangup"
        await self._request("POST", path)

    async def hang_up(self, connection_id: str) -> CallRecord:
        body = await self._request("POST", f"/_emulator/calls/{connection_id}/hangup")
        return CallRecord.model_validate(body)

    async def received_audio(self, connection_id: str) -> tuple[bytes, int]:
        """The bot's audio the phone received (PCM16LE mono) and its sample rate."""
        session = self._http()
        url = f"{self.base_url}/_emulator/calls/{connection_id}/received-audio"
        async with session.get(url) as response:
            if response.status != 200:
                raise EmulatorError(response.status, await response.text())
            return await response.read(), int(response.headers.get("X-Sample-Rate", "0"))

    async def save_received_audio(self, connection_id: str, path: str | Path) -> Path:
        pcm, rate = await self.received_audio(connection_id)
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(rate or 16_000)
            wav.writeframes(pcm)
        return Path(path)

    # --- SMS ------------------------------------------------------------------------------------

    async def sms_sent(
        self, number: str | None = None, *, include_failed: bool = False
    ) -> list[SmsRecord]:
        """Texts the bot sent (to `number` only, if given); failed recipients on request."""
        query = {"number": number} if number else {}
        if include_failed:
            query["include_failed"] = "1"
        path = "/_emulator/sms" + ("?" + urlencode(query) if query else "")
        return [SmsRecord.model_validate(m) for m in await self._request("GET", path)]

    async def send_sms_to_bot(
        self, from_number: str, text: str, *, to_number: str | None = None
    ) -> InboundSmsResult:
        """The phone texts the bot: Event Grid handshake (first time), then SMSReceived."""
        body = {"from_number": from_number, "text": text, "to_number": to_number}
        return InboundSmsResult.model_validate(
            await self._request("POST", "/_emulator/sms/inbound", body)
        )

    async def set_sms_unreachable(self, number: str, *, reason: str = "landline") -> None:
        """Texts to `number` fail with a 400 result (until `reset`)."""
        body = {"number": number, "reason": reason}
        await self._request("POST", "/_emulator/sms/unreachable", body)

    # --- plumbing -------------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def _poll(
        self, number: str | None, since: int | None, wait_s: float
    ) -> tuple[int, list[CallRecord]]:
        query = [f"number={number}"] if number else []
        if since is not None:
            query += [f"since={since}", f"wait_s={wait_s}"]
        path = "/_emulator/calls" + ("?" + "&".join(query).replace("+", "%2B") if query else "")
        body = await self._request("GET", path)
        return int(body["version"]), [CallRecord.model_validate(c) for c in body["calls"]]

    async def _request(
        self, method: str, path: str, body: Any | None = None, *, raw: bytes | None = None
    ) -> Any:
        kwargs: dict[str, Any] = {"json": body} if raw is None else {"data": raw}
        async with self._http().request(method, self.base_url + path, **kwargs) as response:
            text = await response.text()
            if response.status >= 400:
                raise EmulatorError(response.status, text)
            return await response.json() if text else None


def _select(calls: list[CallRecord], key: str) -> CallRecord | None:
    if key.startswith("+"):
        matching = [c for c in calls if c.phone_number == key]
        return matching[-1] if matching else None
    return next((c for c in calls if c.connection_id == key), None)
