"""`AcsTelephony` through the real Call Automation SDK, against a small local fake of ACS.

Golden tests of the REST requests the SDK really sends (path, api-version, repeatability
headers, HMAC signature, JSON body) and of how answers and errors come back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from domain.contracts import (
    AnswerCallInput,
    CallConnection,
    MediaInput,
    PlaceCallInput,
    PlayInput,
    RecognizeChoice,
    RecognizeInput,
    RecordingInput,
    TransferResult,
)
from providers.telephony.acs import (
    TRANSFER_CONTEXT,
    AcsTelephony,
    TelephonyRejected,
    TelephonyUnavailable,
    repeatability_headers,
)
from providers.telephony.base import PhoneLine

ACCESS_KEY = base64.b64encode(b"acs-emulator-access-key-32-bytes").decode()
API_VERSION = "2026-03-12"
BOT = "+18662315126"
CUSTOMER = "+33612345678"
AGENT = "+33699999999"
CONNECTION = "401f0b00-7f80-4a99-8308-843f2cedce1d"
SERVER_CALL = "aHR0cHM6Ly9hcGkuZmxpZ2h0cHJveHkuc2t5cGUuY29t"
COGNITIVE = "https://cog-callcenter.cognitiveservices.azure.com/"
CONTAINER = "https://recordings.blob.core.windows.net/calls"
FIRST_SENT = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC)


@dataclass
class Seen:
    method: str
    path: str
    api_version: str | None
    headers: dict[str, str]
    body: Any


@dataclass
class FakeAcs:
    """Answers like ACS (201/200 with CallConnectionProperties, 202, 204) and records requests.

    `fail` maps an operation (`create`, `answer`, `play`, `terminate`, `recordings`...) to
    statuses served, one per request, before answering normally.
    """

    url: str = ""
    requests: list[Seen] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    fail: dict[str, list[int]] = field(default_factory=dict)
    transfer_body: bool = True

    def last(self, operation: str) -> Seen:
        matching = [r for r in self.requests if _operation(r.method, r.path) == operation]
        assert matching, f"no {operation} request in {[r.path for r in self.requests]}"
        return matching[-1]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        seen = Seen(
            request.method,
            request.path,
            request.query.get("api-version"),
            dict(request.headers),
            body,
        )
        self.requests.append(seen)
        if not self._signed(request, raw):
            return _error(401, "Unauthorized", "Denied because of an invalid HMAC signature.")
        if seen.api_version != API_VERSION:
            self.violations.append(f"api-version {seen.api_version}")
            return _error(400, "BadRequest", "Unsupported api-version")
        operation = _operation(request.method, request.path)
        if self.fail.get(operation):
            status = self.fail[operation].pop(0)
            return _error(status, f"Status{status}", f"injected {status} for {operation}")
        return self._answer(operation, body)

    def _answer(self, operation: str, body: Any) -> web.StreamResponse:
        if operation in ("create", "answer"):
            properties = {
                "callConnectionId": CONNECTION,
                "serverCallId": SERVER_CALL,
                "correlationId": "1b541d21-bd0e-4695-a9ce-bf3290a807bd",
                "callConnectionState": "connecting",
                "callbackUri": body["callbackUri"],
                "targets": body.get("targets", []),
                "sourceCallerIdNumber": body.get("sourceCallerIdNumber"),
            }
            return web.json_response(properties, status=201 if operation == "create" else 200)
        if operation == "transferToParticipant":
            if not self.transfer_body:
                return web.Response(status=202)
            return web.json_response({"operationContext": body["operationContext"]}, status=202)
        if operation in ("terminate", "hangup"):
            return web.Response(status=204)
        if operation == "recordings":
            return web.json_response(
                {"recordingId": "rec-1", "recordingState": "active", "recordingKind": "acs"}
            )
        if operation in ("play", "recognize", "startMediaStreaming", "stopMediaStreaming"):
            return web.Response(status=202)
        self.violations.append(f"unexpected {operation}")
        return _error(404, "NotFound", f"no route for {operation}")

    def _signed(self, request: web.Request, raw: bytes) -> bool:
        """Recompute the HMAC-SHA256 signature the way the service does."""
        content_hash = base64.b64encode(hashlib.sha256(raw).digest()).decode()
        if request.headers.get("x-ms-content-sha256") != content_hash:
            self.violations.append(f"content hash mismatch on {request.path}")
            return False
        to_sign = "\n".join(
            [
                request.method,
                request.raw_path,
                f"{request.headers.get('x-ms-date')};{request.host};{content_hash}",
            ]
        )
        secret = base64.b64decode(ACCESS_KEY)
        signature = base64.b64encode(
            hmac.new(secret, to_sign.encode(), hashlib.sha256).digest()
        ).decode()
        expected = (
            f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}"
        )
        if request.headers.get("Authorization") != expected:
            self.violations.append(f"bad signature on {request.method} {request.path}")
            return False
        return True


def _operation(method: str, path: str) -> str:
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        return last.split(":", 1)[1]
    if path == "/calling/callConnections":
        return "create"
    if path == "/calling/recordings":
        return "recordings"
    return "hangup" if method == "DELETE" else f"{method} {path}"


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@pytest.fixture
async def acs() -> AsyncIterator[FakeAcs]:
    fake = FakeAcs()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()
    assert fake.violations == []


def _line(url: str, **kwargs: Any) -> AcsTelephony:
    options: dict[str, Any] = {
        "cognitive_services_endpoint": COGNITIVE,
        "recording_container_url": CONTAINER,
        "retry_total": 1,
        "retry_backoff_factor": 0.01,
        **kwargs,
    }
    return AcsTelephony(endpoint=url, access_key=ACCESS_KEY, bot_phone_number=BOT, **options)


@pytest.fixture
async def line(acs: FakeAcs) -> AsyncIterator[AcsTelephony]:
    phone = _line(acs.url)
    yield phone
    await phone.close()


def _place(call_id: str = "call-1", **overrides: Any) -> PlaceCallInput:
    values: dict[str, Any] = {
        "call_id": call_id,
        "to": CUSTOMER,
        "callback_url": f"https://bot.example/communicationservices/callback/{call_id}/s3cr3t",
        "media_url": f"wss://bot.example/media/{call_id}/t0k3n",
        "audio_format": "pcm16k",
        "start_media": False,
    }
    values.update(overrides)
    return PlaceCallInput(**values)


def _phone(number: str) -> dict[str, Any]:
    return {"rawId": f"4:{number}", "phoneNumber": {"value": number}}


def test_implements_the_phone_line_protocol(line: AcsTelephony) -> None:
    phone: PhoneLine = line
    assert phone is line


async def test_place_call_request(acs: FakeAcs, line: AcsTelephony) -> None:
    connection = await line.place_call(_place(), first_sent=FIRST_SENT)
    assert connection == CallConnection(
        connection_id=CONNECTION,
        server_call_id=SERVER_CALL,
        correlation_id="1b541d21-bd0e-4695-a9ce-bf3290a807bd",
    )
    seen = acs.last("create")
    assert (seen.method, seen.path, seen.api_version) == (
        "POST",
        "/calling/callConnections",
        API_VERSION,
    )
    assert seen.body == {
        "targets": [_phone(CUSTOMER)],
        "sourceCallerIdNumber": {"value": BOT},
        "operationContext": "call-1",
        "callbackUri": "https://bot.example/communicationservices/callback/call-1/s3cr3t",
        "callIntelligenceOptions": {"cognitiveServicesEndpoint": COGNITIVE},
        "mediaStreamingOptions": {
            "transportType": "websocket",
            "transportUrl": "wss://bot.example/media/call-1/t0k3n",
            "contentType": "audio",
            "audioChannelType": "mixed",
            "startMediaStreaming": False,
            "enableBidirectional": True,
            "audioFormat": "pcm16KMono",
            "enableDtmfTones": True,
        },
    }
    assert seen.headers["Repeatability-First-Sent"] == "Thu, 01 Jan 2026 10:00:00 GMT"
    assert seen.headers["Authorization"].startswith("HMAC-SHA256 SignedHeaders=")


async def test_place_call_without_media(acs: FakeAcs, line: AcsTelephony) -> None:
    await line.place_call(_place(media_url=None, audio_format="pcm24k"), first_sent=FIRST_SENT)
    assert "mediaStreamingOptions" not in acs.last("create").body


def _request_id(seen: Seen) -> str:
    return seen.headers["Repeatability-Request-ID"]


async def test_retried_place_call_is_the_same_request(acs: FakeAcs, line: AcsTelephony) -> None:
    # Two attempts of one activity (same call, same first-attempt time): same request for ACS.
    await line.place_call(_place("call-1"), first_sent=FIRST_SENT)
    later = FIRST_SENT + timedelta(minutes=2)
    await line.place_call(_place("call-1"), first_sent=FIRST_SENT)
    await line.place_call(_place("call-2"), first_sent=FIRST_SENT)
    await line.place_call(_place("call-1"), first_sent=later)  # a new ring, deliberately
    first, retry, other_call, new_ring = [r for r in acs.requests if r.path.endswith("ions")]
    assert _request_id(first) == _request_id(retry)
    assert first.headers["Repeatability-First-Sent"] == retry.headers["Repeatability-First-Sent"]
    assert first.body == retry.body
    assert _request_id(other_call) != _request_id(first)
    assert _request_id(new_ring) != _request_id(first)
    assert new_ring.headers["Repeatability-First-Sent"] == "Thu, 01 Jan 2026 10:02:00 GMT"
    uuid.UUID(_request_id(first))  # ACS wants a GUID


async def test_sdk_retries_resend_the_same_request(acs: FakeAcs, line: AcsTelephony) -> None:
    acs.fail["create"] = [503]
    await line.place_call(_place(), first_sent=FIRST_SENT)
    failed, retried = acs.requests
    assert _request_id(failed) == _request_id(retried)
    assert failed.headers["Repeatability-First-Sent"] == retried.headers["Repeatability-First-Sent"]


async def test_without_first_sent_the_sdk_headers_are_used(
    acs: FakeAcs, line: AcsTelephony
) -> None:
    await line.place_call(_place())
    await line.place_call(_place())
    one, two = acs.requests
    assert _request_id(one) != _request_id(two)  # the SDK's random id per call
    assert one.headers["Repeatability-First-Sent"].endswith(" GMT")


def test_repeatability_headers() -> None:
    naive = repeatability_headers("k", datetime(2026, 1, 1, 10, 0, 0, 999_000))
    aware = repeatability_headers("k", FIRST_SENT)
    paris = repeatability_headers("k", FIRST_SENT.astimezone(timezone(timedelta(hours=1))))
    assert naive == aware == paris
    assert aware["Repeatability-First-Sent"] == "Thu, 01 Jan 2026 10:00:00 GMT"
    assert repeatability_headers("other", FIRST_SENT) != aware


async def test_answer_call_request(acs: FakeAcs, line: AcsTelephony) -> None:
    answer = AnswerCallInput(
        call_id="call-9",
        incoming_call_context="eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJjYyI6Ikg0c0lBQU",
        callback_url="https://bot.example/communicationservices/callback/call-9/s",
        media_url="wss://bot.example/media/call-9/t",
        audio_format="pcm24k",
        start_media=True,
    )
    connection = await line.answer_call(answer, first_sent=FIRST_SENT)
    assert connection.connection_id == CONNECTION
    seen = acs.last("answer")
    assert seen.path == "/calling/callConnections:answer"
    assert seen.body == {
        "incomingCallContext": answer.incoming_call_context,
        "callbackUri": answer.callback_url,
        "operationContext": "call-9",
        "callIntelligenceOptions": {"cognitiveServicesEndpoint": COGNITIVE},
        "mediaStreamingOptions": {
            "transportType": "websocket",
            "transportUrl": "wss://bot.example/media/call-9/t",
            "contentType": "audio",
            "audioChannelType": "mixed",
            "startMediaStreaming": True,
            "enableBidirectional": True,
            "audioFormat": "pcm24KMono",
            "enableDtmfTones": True,
        },
    }
    # Same answer retried: same request; another incoming call for the same call id: not.
    await line.answer_call(answer, first_sent=FIRST_SENT)
    callback = answer.model_copy(update={"incoming_call_context": "another-ring"})
    await line.answer_call(callback, first_sent=FIRST_SENT)
    first, retry, other = acs.requests
    assert _request_id(first) == _request_id(retry) != _request_id(other)


async def test_answer_without_cognitive_services(acs: FakeAcs) -> None:
    phone = _line(acs.url, cognitive_services_endpoint=None)
    try:
        answer = AnswerCallInput(
            call_id="c", incoming_call_context="ctx", callback_url="https://cb", media_url=None
        )
        await phone.answer_call(answer)
    finally:
        await phone.close()
    assert acs.last("answer").body == {
        "incomingCallContext": "ctx",
        "callbackUri": "https://cb",
        "operationContext": "c",
    }


async def test_play_text_to_everyone(acs: FakeAcs, line: AcsTelephony) -> None:
    await line.play(
        PlayInput(
            call_id="call-1",
            connection_id=CONNECTION,
            text="Bonjour, je suis Amélie.",
            voice="fr-FR-DeniseNeural",
            lang="fr-FR",
            operation_context="greeting",
        )
    )
    seen = acs.last("play")
    assert seen.path == f"/calling/callConnections/{CONNECTION}:play"
    assert seen.body == {
        "playSources": [
            {
                "kind": "text",
                "text": {
                    "text": "Bonjour, je suis Amélie.",
                    "voiceName": "fr-FR-DeniseNeural",
                    "sourceLocale": "fr-FR",
                },
            }
        ],
        "playTo": [],
        "interruptCallMediaOperation": False,
        "playOptions": {"loop": False},
        "operationContext": "greeting",
    }


async def test_play_ssml(acs: FakeAcs, line: AcsTelephony) -> None:
    ssml = '<speak version="1.0" xml:lang="fr-FR"><voice name="v">Au revoir</voice></speak>'
    await line.play(
        PlayInput(
            call_id="call-1",
            connection_id=CONNECTION,
            text=ssml,
            voice="v",
            lang="fr-FR",
            ssml=True,
            operation_context="goodbye",
        )
    )
    body = acs.last("play").body
    assert body["playSources"] == [{"kind": "ssml", "ssml": {"ssmlText": ssml}}]
    assert body["playTo"] == [] and body["operationContext"] == "goodbye"


async def test_recognize_choices(acs: FakeAcs, line: AcsTelephony) -> None:
    await line.recognize(
        RecognizeInput(
            call_id="call-1",
            connection_id=CONNECTION,
            target=CUSTOMER,
            prompt="Pour le français, tapez 1. For English, press 2.",
            voice="fr-FR-DeniseNeural",
            lang="fr-FR",
            choices=[
                RecognizeChoice(label="fr-FR", phrases=["french", "français"], tone="one"),
                RecognizeChoice(label="en-US", phrases=["english"], tone="two"),
            ],
            operation_context="ivr_lang_select",
            silence_timeout_sec=7,
        )
    )
    seen = acs.last("recognize")
    assert seen.path == f"/calling/callConnections/{CONNECTION}:recognize"
    assert seen.body == {
        "recognizeInputType": "choices",
        "playPrompt": {
            "kind": "text",
            "text": {
                "text": "Pour le français, tapez 1. For English, press 2.",
                "voiceName": "fr-FR-DeniseNeural",
                "sourceLocale": "fr-FR",
            },
        },
        "interruptCallMediaOperation": False,
        "recognizeOptions": {
            "interruptPrompt": True,
            "initialSilenceTimeoutInSeconds": 7,
            "targetParticipant": _phone(CUSTOMER),
            "speechLanguage": "fr-FR",
            "choices": [
                {"label": "fr-FR", "phrases": ["french", "français"], "tone": "one"},
                {"label": "en-US", "phrases": ["english"], "tone": "two"},
            ],
        },
        "operationContext": "ivr_lang_select",
    }


async def test_recognize_rejects_an_unknown_tone(line: AcsTelephony) -> None:
    with pytest.raises(ValueError):
        await line.recognize(
            RecognizeInput(
                call_id="c",
                connection_id=CONNECTION,
                target=CUSTOMER,
                prompt="p",
                voice="v",
                lang="fr-FR",
                choices=[RecognizeChoice(label="x", phrases=["x"], tone="eleven")],
                operation_context="ivr",
            )
        )


async def test_transfer(acs: FakeAcs, line: AcsTelephony) -> None:
    result = await line.transfer("call-1", CONNECTION, AGENT)
    assert result == TransferResult(status="transferring")
    seen = acs.last("transferToParticipant")
    assert seen.path == f"/calling/callConnections/{CONNECTION}:transferToParticipant"
    assert seen.body == {"targetParticipant": _phone(AGENT), "operationContext": TRANSFER_CONTEXT}


async def test_transfer_accepted_without_a_body(acs: FakeAcs, line: AcsTelephony) -> None:
    acs.transfer_body = False  # the SDK chokes on it; the transfer is under way all the same
    assert await line.transfer("call-1", CONNECTION, AGENT) == TransferResult(status="transferring")


@pytest.mark.parametrize("status", [400, 403, 500])
async def test_transfer_refused(acs: FakeAcs, line: AcsTelephony, status: int) -> None:
    acs.fail["transferToParticipant"] = [status] * 2
    result = await line.transfer("call-1", CONNECTION, AGENT)
    assert result.status == "failed"
    assert str(status) in result.detail and f"Status{status}" in result.detail


async def test_transfer_without_a_connection(acs: FakeAcs, line: AcsTelephony) -> None:
    assert (await line.transfer("call-1", None, AGENT)).status == "failed"
    assert acs.requests == []


async def test_hang_up_terminates_for_everyone(acs: FakeAcs, line: AcsTelephony) -> None:
    await line.hang_up("call-1", CONNECTION)
    seen = acs.last("terminate")
    assert (seen.method, seen.path) == ("POST", f"/calling/callConnections/{CONNECTION}:terminate")


async def test_hang_up_of_a_gone_call_is_success(acs: FakeAcs, line: AcsTelephony) -> None:
    acs.fail["terminate"] = [404]
    await line.hang_up("call-1", CONNECTION)
    assert len(acs.requests) == 1


async def test_hang_up_without_connection(acs: FakeAcs, line: AcsTelephony) -> None:
    await line.hang_up("call-1", None)
    assert acs.requests == []


async def test_hang_up_errors(acs: FakeAcs, line: AcsTelephony) -> None:
    acs.fail["terminate"] = [403]
    with pytest.raises(TelephonyRejected):
        await line.hang_up("call-1", CONNECTION)
    acs.fail["terminate"] = [500, 500]
    with pytest.raises(TelephonyUnavailable):
        await line.hang_up("call-1", CONNECTION)


async def test_start_and_stop_media(acs: FakeAcs, line: AcsTelephony) -> None:
    media = MediaInput(call_id="call-1", connection_id=CONNECTION, operation_context="ivr_done")
    await line.start_media(media)
    await line.stop_media(media.model_copy(update={"operation_context": ""}))
    start, stop = acs.requests
    assert start.path == f"/calling/callConnections/{CONNECTION}:startMediaStreaming"
    assert start.body == {"operationContext": "ivr_done"}
    assert stop.path == f"/calling/callConnections/{CONNECTION}:stopMediaStreaming"
    assert stop.body == {}


async def test_start_recording(acs: FakeAcs, line: AcsTelephony) -> None:
    recording = RecordingInput(call_id="call-1", server_call_id=SERVER_CALL)
    await line.start_recording(recording, first_sent=FIRST_SENT)
    seen = acs.last("recordings")
    assert (seen.method, seen.path) == ("POST", "/calling/recordings")
    assert seen.body == {
        "callLocator": {"serverCallId": SERVER_CALL, "kind": "serverCallLocator"},
        "recordingContentType": "audio",
        "recordingChannelType": "unmixed",
        "recordingFormatType": "wav",
        "channelAffinity": [],
        "externalStorage": {
            "recordingStorageKind": "azureBlobStorage",
            "recordingDestinationContainerUrl": CONTAINER,
        },
    }
    await line.start_recording(recording, first_sent=FIRST_SENT)
    first, retry = acs.requests
    assert _request_id(first) == _request_id(retry)


async def test_start_recording_in_acs_storage(acs: FakeAcs) -> None:
    phone = _line(acs.url, recording_container_url=None)
    try:
        await phone.start_recording(RecordingInput(call_id="c", server_call_id=SERVER_CALL))
    finally:
        await phone.close()
    assert "externalStorage" not in acs.last("recordings").body


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_rejections(acs: FakeAcs, line: AcsTelephony, status: int) -> None:
    acs.fail["create"] = [status]
    with pytest.raises(TelephonyRejected) as caught:
        await line.place_call(_place(), first_sent=FIRST_SENT)
    assert caught.value.status == status
    assert caught.value.code == f"Status{status}"
    assert len(acs.requests) == 1  # the SDK does not retry these either


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
async def test_server_errors_are_unavailability(
    acs: FakeAcs, line: AcsTelephony, status: int
) -> None:
    acs.fail["play"] = [status, status]
    with pytest.raises(TelephonyUnavailable) as caught:
        await line.play(
            PlayInput(
                call_id="c",
                connection_id=CONNECTION,
                text="t",
                voice="v",
                lang="fr-FR",
                operation_context="o",
            )
        )
    assert caught.value.status == status
    # azure-core retries a POST only on 500/503/504 (or with Retry-After): once here.
    assert len(acs.requests) == (2 if status in (500, 503, 504) else 1)


async def test_repeat_still_in_progress_is_retryable(acs: FakeAcs, line: AcsTelephony) -> None:
    # 409 on a repeatable request: ACS is still executing the first attempt.
    acs.fail["create"] = [409]
    with pytest.raises(TelephonyUnavailable):
        await line.place_call(_place(), first_sent=FIRST_SENT)
    acs.fail["create"] = [409]
    with pytest.raises(TelephonyRejected):
        await line.place_call(_place())  # no repeatability of ours: a real conflict


async def test_repeat_outside_the_window_is_rejected(acs: FakeAcs, line: AcsTelephony) -> None:
    acs.fail["create"] = [412]
    with pytest.raises(TelephonyRejected, match="repeatability window"):
        await line.place_call(_place(), first_sent=FIRST_SENT - timedelta(minutes=10))


async def test_acs_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    phone = _line(f"http://127.0.0.1:{port}", retry_total=0)
    try:
        with pytest.raises(TelephonyUnavailable) as caught:
            await phone.place_call(_place(), first_sent=FIRST_SENT)
        assert caught.value.status is None
    finally:
        await phone.close()


async def test_wrong_key_is_rejected(acs: FakeAcs) -> None:
    other_key = base64.b64encode(b"not-the-right-access-key-at-all!").decode()
    phone = AcsTelephony(endpoint=acs.url, access_key=other_key, bot_phone_number=BOT)
    try:
        with pytest.raises(TelephonyRejected) as caught:
            await phone.hang_up("c", CONNECTION)
    finally:
        await phone.close()
    assert caught.value.status == 401
    acs.violations.clear()  # the bad signature was the point


async def test_trailing_slash_on_the_endpoint(acs: FakeAcs) -> None:
    # The signature covers the endpoint's host as configured: a slash must not leak into it.
    phone = _line(acs.url + "/")
    try:
        await phone.start_media(MediaInput(call_id="c", connection_id=CONNECTION))
    finally:
        await phone.close()
    assert acs.last("startMediaStreaming").body == {}
