"""ACS media messages: parsing both key casings, building bot audio and barge-in."""

from __future__ import annotations

import base64
import json

import pytest

from media_gateway.protocol import (
    AudioFrame,
    AudioMetadata,
    Dtmf,
    audio_message,
    parse,
    stop_audio_message,
)


def test_camel_case_messages_as_acs_sends_them() -> None:
    meta = parse(
        json.dumps(
            {
                "kind": "AudioMetadata",
                "audioMetadata": {
                    "subscriptionId": "s",
                    "encoding": "PCM",
                    "sampleRate": 24000,
                    "channels": 1,
                    "length": 960,
                },
            }
        )
    )
    assert meta == AudioMetadata(sample_rate=24000, channels=1, frame_bytes=960, encoding="PCM")
    pcm = bytes(range(256)) * 2 + bytes(128)
    frame = parse(
        json.dumps(
            {
                "kind": "AudioData",
                "audioData": {
                    "timestamp": "2026-11-25T10:00:00Z",
                    "participantRawID": "4:+33612345678",
                    "data": base64.b64encode(pcm).decode(),
                    "silent": False,
                },
            }
        )
    )
    assert frame == AudioFrame(pcm=pcm, silent=False, timestamp="2026-11-25T10:00:00Z")
    assert parse('{"kind":"DtmfData","dtmfData":{"data":"5"}}') == Dtmf(tone="5")


def test_pascal_case_messages_of_the_docs_sample() -> None:
    frame = parse('{"Kind":"AudioData","AudioData":{"Data":"AAAA","Silent":true}}')
    assert frame == AudioFrame(pcm=b"\0\0\0", silent=True, timestamp=None)


def test_unknown_kinds_are_ignored_and_garbage_rejected() -> None:
    assert parse('{"kind":"TranscriptionData"}') is None
    with pytest.raises(ValueError):
        parse("[1, 2]")
    with pytest.raises(ValueError):
        parse("not json")


def test_outbound_messages_have_the_acs_shape() -> None:
    sent = json.loads(audio_message(b"\x01\x02"))
    assert sent == {"kind": "AudioData", "audioData": {"data": "AQI="}, "stopAudio": None}
    assert json.loads(stop_audio_message()) == {
        "kind": "StopAudio",
        "audioData": None,
        "stopAudio": {},
    }
