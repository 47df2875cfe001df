"""The media gateway against the bad input that used to hurt it (issue 11's findings): every
one is answered with a close frame that says why, before any audio is processed, and costs
neither time nor memory."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from temporalio.testing import WorkflowEnvironment

from media_gateway.app import Session, _whole_samples
from media_gateway.protocol import FORMAT_REFUSED, INVALID_PAYLOAD, MAX_MESSAGE_BYTES, AudioFrame
from providers.speech.audio import Resampler
from scripted_llm.runner import ScriptedLlmServer
from tests.media_gateway.fakes import noise
from tests.media_gateway.gateway_harness import (
    LiveGateway,
    audio,
    live_gateway,
    metadata,
    rss_mb,
    send_until_closed,
)

MESSAGE_TOO_BIG = 1009


@pytest.fixture
async def gateway(
    temporal_env: WorkflowEnvironment,
    redis_url: str,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
) -> AsyncIterator[LiveGateway]:
    async with live_gateway(temporal_env.client, redis_url, scripted_llm, tmp_path, "hello") as g:
        yield g


BAD_FORMATS = {
    "rate 999983": (metadata(999983), FORMAT_REFUSED),
    "rate 0": (metadata(0), FORMAT_REFUSED),
    "negative rate": (metadata(-16000), FORMAT_REFUSED),
    "rate 1e300": (metadata(1e300), INVALID_PAYLOAD),
    "rate as a string": (metadata("16000"), INVALID_PAYLOAD),
    "rate 8000": (metadata(8000), FORMAT_REFUSED),
    "no rate": (json.dumps({"kind": "AudioMetadata", "audioMetadata": {}}), FORMAT_REFUSED),
    "stereo": (metadata(channels=2), FORMAT_REFUSED),
    "mu-law": (metadata(encoding="PCMU"), FORMAT_REFUSED),
    "metadata not an object": (
        json.dumps({"kind": "AudioMetadata", "audioMetadata": "16000"}),
        INVALID_PAYLOAD,
    ),
}


@pytest.mark.parametrize("case", list(BAD_FORMATS))
async def test_a_format_acs_never_sends_is_refused_before_any_audio(
    gateway: LiveGateway, case: str
) -> None:
    message, code = BAD_FORMATS[case]
    call_id, token = await gateway.start_call()
    async with aiohttp.ClientSession() as http:
        closed = await send_until_closed(
            http, gateway.url(call_id, token), [message, audio(bytes(640))]
        )
    assert closed.code == code, closed
    (session,) = gateway.sessions[call_id]
    # Refused on the metadata: no live audio was set up for it, no frame was followed.
    assert session.call is None and session.frames == 0 and session.metadata is None


async def test_the_rate_that_froze_the_gateway_costs_neither_time_nor_memory(
    gateway: LiveGateway,
) -> None:
    call_id, token = await gateway.start_call()
    async with aiohttp.ClientSession() as http:
        # Warm-up: the first session pays for imports and connection pools.
        await send_until_closed(http, gateway.url(call_id, token), [metadata(0)])
        before = rss_mb()
        closed = [
            await send_until_closed(http, gateway.url(call_id, token), [metadata(999983)])
            for _ in range(5)
        ]
        after = rss_mb()
    # The measurement issue 11 asks for, shown with `pytest -s`.
    print(f"gateway RSS before {before:.1f} MB, after 5 x sampleRate 999983 {after:.1f} MB")  # noqa: T201
    assert all(c.code == FORMAT_REFUSED for c in closed)
    assert max(c.seconds for c in closed) < 2.0  # it took ~21 s, blocking every call
    assert after - before < 20  # it left ~490 MB per session


MALFORMED = [
    "not json",
    "[1, 2]",
    json.dumps({"kind": "AudioData", "audioData": "AAAA"}),  # a string, not an object
    json.dumps({"kind": "AudioData", "audioData": {"data": 12}}),
    json.dumps({"kind": "AudioData", "audioData": {"data": "not base64!"}}),
    json.dumps({"kind": "DtmfData", "dtmfData": {"data": ["5"]}}),
    json.dumps({"kind": 5}),
    "[" * 50_000,  # deeper than the JSON parser's recursion limit
]


@pytest.mark.parametrize("bad", MALFORMED)
async def test_five_malformed_messages_close_the_session_with_1007(
    gateway: LiveGateway, bad: str
) -> None:
    call_id, token = await gateway.start_call()
    async with aiohttp.ClientSession() as http:
        url = gateway.url(call_id, token)
        closed = await send_until_closed(http, url, [metadata(), *[bad, audio(bytes(640))] * 5])
    assert closed.code == INVALID_PAYLOAD, closed
    (session,) = gateway.sessions[call_id]
    assert session.rejected_messages == 5
    assert session.frames == 4  # the valid frames before the fifth bad message were followed


async def test_an_oversized_message_is_refused_by_size(gateway: LiveGateway) -> None:
    call_id, token = await gateway.start_call()
    async with aiohttp.ClientSession() as http:
        huge = audio(bytes(MAX_MESSAGE_BYTES))
        closed = await send_until_closed(http, gateway.url(call_id, token), [metadata(), huge])
    assert closed.code == MESSAGE_TOO_BIG, closed


async def test_odd_length_frames_at_24_khz_keep_the_socket_and_the_call(
    gateway: LiveGateway,
) -> None:
    call_id, token = await gateway.start_call()
    pcm = noise(0.2, 24_000)
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(gateway.url(call_id, token)) as socket:
            await socket.send_str(metadata(24_000))
            for start in range(0, len(pcm), 961):  # 961-byte frames: every other one odd
                await socket.send_str(audio(pcm[start : start + 961]))
            await socket.send_str(metadata(24_000))  # the same format again is fine
            frames = -(-len(pcm) // 961)
            for _ in range(200):
                sessions = gateway.sessions.get(call_id, [])
                if sessions and sessions[0].frames == frames:
                    break
                await asyncio.sleep(0.05)
            (session,) = gateway.sessions[call_id]
            assert not socket.closed
            assert session.call is not None and session.rejected_messages == 0
            assert session.audio_bytes == len(pcm)
            await socket.send_str(metadata(16_000))  # but not a new one mid-stream
            reply = await socket.receive(timeout=5)
    assert reply.type == aiohttp.WSMsgType.CLOSE and reply.data == FORMAT_REFUSED


def test_an_odd_byte_is_carried_to_the_next_frame_not_dropped() -> None:
    pcm = noise(0.1, 16_000)
    session = Session("call", None, accepted_at=0.0)
    out = b""
    cuts = [0, 1, 4, 7, 8, 645, 1290, 1291, len(pcm)]
    for a, b in zip(cuts, cuts[1:], strict=False):
        frame = _whole_samples(session, AudioFrame(pcm=pcm[a:b], silent=False, timestamp=None))
        assert len(frame.pcm) % 2 == 0
        out += frame.pcm
    assert out == pcm  # every sample where it was: nothing shifted, nothing lost


def test_resampling_refuses_rates_no_engine_or_stream_uses() -> None:
    with pytest.raises(ValueError, match="sample rate"):
        Resampler(999983, 16_000)
    Resampler(22_050, 16_000)  # what real engines need is well within the bound
    Resampler(44_100, 24_000)
