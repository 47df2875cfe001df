"""Shared steps of the emulator tests."""

from __future__ import annotations

import json
from email.utils import formatdate
from typing import Any

from azure.communication.callautomation import (
    AudioFormat,
    MediaStreamingAudioChannelType,
    MediaStreamingContentType,
    MediaStreamingOptions,
    PhoneNumberIdentifier,
    StreamingTransportType,
)
from azure.communication.callautomation.aio import CallAutomationClient, CallConnectionClient

from acs_emulator import AcsEmulator
from acs_emulator.auth import content_hash, sign
from tests.acs_emulator.bot_stub import BotStub

PHONE = "+15550001001"
AGENT = "+15550002002"


def media_options(
    bot: BotStub,
    *,
    audio_format: str = AudioFormat.PCM16_K_MONO,
    start: bool = True,
    dtmf: bool = True,
) -> MediaStreamingOptions:
    return MediaStreamingOptions(
        transport_url=bot.ws_url,
        transport_type=StreamingTransportType.WEBSOCKET,
        content_type=MediaStreamingContentType.AUDIO,
        audio_channel_type=MediaStreamingAudioChannelType.MIXED,
        start_media_streaming=start,
        enable_bidirectional=True,
        audio_format=audio_format,
        enable_dtmf_tones=dtmf,
    )


async def connected_call(
    acs: AcsEmulator,
    bot: BotStub,
    sdk: CallAutomationClient,
    *,
    number: str = PHONE,
    media: MediaStreamingOptions | None = None,
    operation_context: str | None = None,
) -> tuple[str, CallConnectionClient]:
    """Place a call with the real SDK and wait until the bot got CallConnected."""
    props = await sdk.create_call(
        PhoneNumberIdentifier(number),
        bot.url("/callbacks"),
        source_caller_id_number=PhoneNumberIdentifier(acs.bot_number),
        operation_context=operation_context,
        media_streaming=media,
    )
    assert props.call_connection_id is not None
    connection_id = props.call_connection_id
    await bot.wait_for(connection_id, "ParticipantsUpdated")
    return connection_id, sdk.get_call_connection(connection_id)


def signed_headers(
    acs: AcsEmulator, method: str, path_and_query: str, body: bytes, *, date: str | None = None
) -> dict[str, str]:
    """What HMACCredentialsPolicy adds, for raw requests the SDK would never send."""
    host = acs.endpoint.removeprefix("http://")
    date = date or formatdate(usegmt=True)
    signature = sign(acs.access_key, method, path_and_query, date, host, body)
    return {
        "x-ms-date": date,
        "x-ms-content-sha256": content_hash(body),
        "Authorization": "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256"
        f"&Signature={signature}",
        "Content-Type": "application/json",
    }


def body(obj: Any) -> bytes:
    return json.dumps(obj).encode()
