"""The ACS bidirectional media WebSocket messages, parsed and built.

ACS sends camelCase keys; Microsoft's samples use PascalCase, so both are accepted.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

# What ACS bidirectional streaming sends: PCM16 mono at 16 or 24 kHz. Anything else is refused
# before a resampler is built for it (a rate such as 999983 Hz needs a ~500 MB filter).
SAMPLE_RATES = frozenset({16000, 24000})
CHANNELS = 1
ENCODINGS = frozenset({"PCM"})
# A key as ACS names it ("5", "#", "A", or a word such as "pound"): short and plain.
DTMF_TONE = re.compile(r"[0-9A-Za-z*#]{1,16}")
# A 20 ms frame at 24 kHz is 960 bytes (1280 in base64); a message is refused well before a
# client could make the gateway hold megabytes of it.
MAX_MESSAGE_BYTES = 64 * 1024

# WebSocket close codes (RFC 6455 section 7.4.1).
INVALID_PAYLOAD = 1007  # not JSON, wrong types, bad base64
FORMAT_REFUSED = 1008  # policy violation: well-formed, but a format the gateway refuses


class ProtocolError(ValueError):
    """A message the gateway cannot use; `code` is the close code that says why. `fatal`:
    the stream cannot go on (its audio format is unusable), not just one message lost."""

    code = INVALID_PAYLOAD
    fatal = False


class MalformedMessage(ProtocolError):
    code = INVALID_PAYLOAD


class MalformedMetadata(MalformedMessage):
    fatal = True


class UnsupportedFormat(ProtocolError):
    code = FORMAT_REFUSED
    fatal = True


@dataclass(frozen=True)
class AudioMetadata:
    sample_rate: int
    channels: int
    frame_bytes: int
    encoding: str


@dataclass(frozen=True)
class AudioFrame:
    pcm: bytes
    silent: bool
    timestamp: str | None


@dataclass(frozen=True)
class Dtmf:
    tone: str


Inbound = AudioMetadata | AudioFrame | Dtmf | None


def _get(obj: dict[str, Any], key: str) -> Any:
    value = obj.get(key)
    return value if value is not None else obj.get(key[:1].upper() + key[1:])


def _object(message: dict[str, Any], key: str) -> dict[str, Any]:
    value = _get(message, key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MalformedMessage(f"{key} must be an object")
    return value


def _integer(obj: dict[str, Any], key: str, default: int) -> int:
    value = _get(obj, key)
    if value is None:
        return default
    # bool is an int in Python, and a float such as 1e300 or NaN is no count of anything.
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedMessage(f"{key} must be an integer")
    return value


def _metadata(message: dict[str, Any]) -> AudioMetadata:
    meta = _object(message, "audioMetadata")
    rate = _integer(meta, "sampleRate", 0)
    channels = _integer(meta, "channels", CHANNELS)
    length = _integer(meta, "length", 0)
    encoding = _get(meta, "encoding")
    encoding = "PCM" if encoding is None else encoding
    if not isinstance(encoding, str):
        raise MalformedMessage("encoding must be a string")
    if rate not in SAMPLE_RATES:
        raise UnsupportedFormat(f"sample rate {rate} not supported (16000 or 24000)")
    if channels != CHANNELS:
        raise UnsupportedFormat(f"{channels} channels not supported (mono only)")
    if encoding.upper() not in ENCODINGS:
        raise UnsupportedFormat(f"encoding {encoding[:16]!r} not supported (PCM only)")
    if not 0 <= length <= MAX_MESSAGE_BYTES:
        raise UnsupportedFormat(f"frame length {length} out of range")
    return AudioMetadata(sample_rate=rate, channels=channels, frame_bytes=length, encoding="PCM")


def _frame(message: dict[str, Any]) -> AudioFrame:
    audio = _object(message, "audioData")
    data = _get(audio, "data")
    if data is None:
        data = ""
    if not isinstance(data, str):
        raise MalformedMessage("audioData.data must be a base64 string")
    try:
        pcm = base64.b64decode(data, validate=True)
    except binascii.Error as exc:
        raise MalformedMessage("audioData.data is not base64") from exc
    timestamp = _get(audio, "timestamp")
    if timestamp is not None and not isinstance(timestamp, str):
        raise MalformedMessage("audioData.timestamp must be a string")
    silent = _get(audio, "silent")
    if silent is not None and not isinstance(silent, bool):
        raise MalformedMessage("audioData.silent must be a boolean")
    return AudioFrame(pcm=pcm, silent=bool(silent), timestamp=timestamp)


def _dtmf(message: dict[str, Any]) -> Dtmf:
    tone = _get(_object(message, "dtmfData"), "data")
    if not isinstance(tone, str) or DTMF_TONE.fullmatch(tone) is None:
        raise MalformedMessage("dtmfData.data is not a keypad tone")
    return Dtmf(tone=tone)


def parse(text: str) -> Inbound:
    """One inbound message; None for kinds this gateway does not use.

    Raises `MalformedMessage` (not JSON, wrong types; `MalformedMetadata` for the audio
    format) or `UnsupportedFormat` (a format ACS does not send): nothing else, whatever the
    input.
    """
    if len(text) > MAX_MESSAGE_BYTES:
        raise MalformedMessage("message too long")
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedMessage("not JSON") from exc
    if not isinstance(message, dict):
        raise MalformedMessage("a media message is a JSON object")
    kind = _get(message, "kind")
    if kind == "AudioMetadata":
        try:
            return _metadata(message)
        except UnsupportedFormat:
            raise
        except MalformedMessage as exc:
            raise MalformedMetadata(str(exc)) from exc
    if kind == "AudioData":
        return _frame(message)
    if kind == "DtmfData":
        return _dtmf(message)
    if kind is not None and not isinstance(kind, str):
        raise MalformedMessage("kind must be a string")
    return None


# Built by hand: sent 50 times a second per call, and base64 needs no JSON escaping.
_AUDIO_HEAD = '{"kind":"AudioData","audioData":{"data":"'
_AUDIO_TAIL = '"},"stopAudio":null}'


def audio_message(pcm: bytes) -> str:
    """Bot audio to the caller (one frame of PCM16 mono at the call's rate)."""
    return _AUDIO_HEAD + base64.b64encode(pcm).decode("ascii") + _AUDIO_TAIL


def stop_audio_message() -> str:
    """Barge-in: ACS drops the audio it has queued for the caller."""
    return json.dumps({"kind": "StopAudio", "audioData": None, "stopAudio": {}})
