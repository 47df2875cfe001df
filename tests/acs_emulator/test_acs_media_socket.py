"""The media WebSocket: metadata, real-time pacing, DTMF, bot audio, closing."""

from __future__ import annotations

import asyncio
import base64
import json
import wave
from pathlib import Path

import pytest
from azure.communication.callautomation import AudioFormat
from azure.communication.callautomation.aio import CallAutomationClient

from acs_emulator import AcsEmulator, EmulatorError
from tests.acs_emulator.bot_stub import BotStub
from tests.acs_emulator.helpers import PHONE, connected_call, media_options


async def test_metadata_first_then_paced_audio(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    connection_id, _ = await connected_call(acs, bot, sdk, media=media_options(bot))
    conn = await bot.wait_media()
    await bot.wait_for(connection_id, "MediaStreamingStarted")
    assert conn.headers["x-ms-call-connection-id"] == connection_id
    assert conn.headers["Authorization"].startswith("Bearer ")  # the same JWT as callbacks
    record = await acs.client.call(connection_id)
    assert conn.headers["x-ms-call-correlation-id"] == record.correlation_id
    await asyncio.sleep(1.3)
    first = conn.messages[0][1]
    assert first["kind"] == "AudioMetadata"
    meta = first["audioMetadata"]
    assert (meta["encoding"], meta["sampleRate"], meta["channels"], meta["length"]) == (
        "PCM",
        16000,
        1,
        640,
    )
    frames = [(t, m) for t, m in conn.messages if m["kind"] == "AudioData"]
    start = frames[0][0] + 0.1  # skip connection set-up
    window = [t for t, _ in frames if start <= t < start + 1.0]
    assert 45 <= len(window) <= 55, len(window)
    audio = frames[0][1]["audioData"]
    assert audio["silent"] is True and audio["participantRawID"] == f"4:{PHONE}"
    assert len(base64.b64decode(audio["data"])) == 640
    started = bot.events_for(connection_id)[-1].event["data"]["mediaStreamingUpdate"]
    assert started == {
        "contentType": "Audio",
        "mediaStreamingStatus": "mediaStreamingStarted",
        "mediaStreamingStatusDetails": "subscriptionStarted",
    }


async def test_phone_audio_dtmf_and_bot_audio(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    connection_id, _ = await connected_call(acs, bot, sdk, media=media_options(bot))
    conn = await bot.wait_media()
    pcm = bytes(range(1, 201)) * 16  # 3200 bytes: five frames of non-silent audio
    await acs.client.play_audio(connection_id, pcm, 16_000)
    await acs.client.press(connection_id, "5")
    with pytest.raises(EmulatorError) as wrong_rate:
        await acs.client.play_audio(connection_id, pcm, 24_000)
    assert wrong_rate.value.status == 400

    bot_frame = base64.b64encode(bytes(640)).decode()
    for _ in range(10):
        await conn.ws.send_str(json.dumps({"kind": "AudioData", "audioData": {"data": bot_frame}}))
    # PascalCase, as in Microsoft's sample, is accepted too.
    await conn.ws.send_str(json.dumps({"Kind": "AudioData", "AudioData": {"Data": bot_frame}}))
    await conn.ws.send_str(json.dumps({"kind": "StopAudio", "audioData": None, "stopAudio": {}}))

    record = await acs.client.wait_for_call(
        connection_id, lambda c: c.media.stop_audio_count == 1 and c.media.audio_frames_sent >= 5
    )
    assert record.media.audio_frames_received == 11
    assert record.media.audio_bytes_received == 11 * 640
    assert record.media.dtmf_sent == ["5"]
    assert record.media.bot_audio_discarded_ms > 0  # StopAudio cut what was still queued
    assert conn.of_kind("DtmfData") == [{"kind": "DtmfData", "dtmfData": {"data": "5"}}]
    sent = b"".join(
        base64.b64decode(m["audioData"]["data"])
        for m in conn.of_kind("AudioData")
        if not m["audioData"]["silent"]
    )
    assert sent == pcm
    received, rate = await acs.client.received_audio(connection_id)
    assert len(received) == 11 * 640 and rate == 16_000


async def test_24k_stream(acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient) -> None:
    media = media_options(bot, audio_format=AudioFormat.PCM24_K_MONO)
    await connected_call(acs, bot, sdk, media=media)
    conn = await bot.wait_media()
    await asyncio.sleep(0.1)
    meta = conn.of_kind("AudioMetadata")[0]["audioMetadata"]
    assert (meta["sampleRate"], meta["length"]) == (24000, 960)
    frame = conn.of_kind("AudioData")[0]["audioData"]["data"]
    assert len(base64.b64decode(frame)) == 960


async def test_socket_closed_by_the_server_stops_streaming(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    connection_id, _ = await connected_call(acs, bot, sdk, media=media_options(bot))
    conn = await bot.wait_media()
    await bot.wait_for(connection_id, "MediaStreamingStarted")
    await conn.ws.close()
    stopped = await bot.wait_for(connection_id, "MediaStreamingStopped")
    update = stopped.event["data"]["mediaStreamingUpdate"]
    assert update["mediaStreamingStatusDetails"] == "streamConnectionInterrupted"
    record = await acs.client.call(connection_id)
    assert record.state == "connected" and record.media.closed_by == "server"


async def test_start_and_stop_streaming(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    media = media_options(bot, start=False)
    connection_id, connection = await connected_call(acs, bot, sdk, media=media)
    assert bot.media == []
    await connection.start_media_streaming(operation_context="listen")
    started = await bot.wait_for(connection_id, "MediaStreamingStarted")
    assert started.event["data"]["operationContext"] == "listen"
    conn = await bot.wait_media()
    await connection.stop_media_streaming()
    stopped = await bot.wait_for(connection_id, "MediaStreamingStopped")
    assert stopped.event["data"]["mediaStreamingUpdate"]["mediaStreamingStatus"] == (
        "mediaStreamingStopped"
    )
    await asyncio.wait_for(conn.closed.wait(), 2)
    assert (await acs.client.call(connection_id)).media.closed_by == "emulator"


async def test_unreachable_transport_fails(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    bot.accept_media = False
    connection_id, _ = await connected_call(acs, bot, sdk, media=media_options(bot))
    failed = await bot.wait_for(connection_id, "MediaStreamingFailed")
    update = failed.event["data"]["mediaStreamingUpdate"]
    assert update["mediaStreamingStatusDetails"] == "initialWebSocketConnectionFailed"
    assert (await acs.client.call(connection_id)).media.connect_error


async def test_hang_up_closes_the_socket(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient
) -> None:
    connection_id, connection = await connected_call(acs, bot, sdk, media=media_options(bot))
    conn = await bot.wait_media()
    await connection.hang_up(is_for_everyone=True)
    await asyncio.wait_for(conn.closed.wait(), 2)
    await bot.wait_for(connection_id, "CallDisconnected")
    assert bot.names_for(connection_id)[-1] == "CallDisconnected"


async def test_wav_in_and_out(
    acs: AcsEmulator, bot: BotStub, sdk: CallAutomationClient, tmp_path: Path
) -> None:
    connection_id, _ = await connected_call(acs, bot, sdk, media=media_options(bot))
    conn = await bot.wait_media()
    source = tmp_path / "caller.wav"
    with wave.open(str(source), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)
        wav.writeframes(b"\x10\x00" * 1600)  # 100 ms
    assert await acs.client.play_wav(connection_id, source) == 3200
    await acs.client.silence(connection_id, 40)
    await conn.ws.send_str(
        json.dumps(
            {
                "kind": "AudioData",
                "audioData": {"data": base64.b64encode(b"\x01\x00" * 320).decode()},
            }
        )
    )
    await acs.client.wait_for_call(
        connection_id,
        lambda c: c.media.audio_frames_sent >= 5 and c.media.audio_frames_received == 1,
    )
    saved = await acs.client.save_received_audio(connection_id, tmp_path / "bot.wav")
    with wave.open(str(saved), "rb") as wav:
        assert wav.getframerate() == 16_000 and wav.readframes(320) == b"\x01\x00" * 320
