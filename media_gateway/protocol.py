"""The ACS bidirectional media WebSocket messages, parsed and built.

ACS sends camelCase keys; Microsoft's samples use PascalCase, so both are accepted.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any


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


def parse(text: str) -> Inbound:
    """One inbound message; None for kinds this gateway does not use. Raises ValueError."""
    message = json.loads(text)
    if not isinstance(message, dict):
        raise ValueError("a media message is a JSON object")
    kind = _get(message, "kind")
    if kind == "AudioMetadata":
        meta = _get(message, "audioMetadata") or {}
        return AudioMetadata(
            sample_rate=int(_get(meta, "sampleRate")),
            channels=int(_get(meta, "channels") or 1),
            frame_bytes=int(_get(meta, "length") or 0),
            encoding=str(_get(meta, "encoding") or "PCM"),
        )
    if kind == "AudioData":
        audio = _get(message, "audioData") or {}
        return AudioFrame(
            pcm=base64.b64decode(_get(audio, "data") or ""),
            silent=bool(_get(audio, "silent")),
            timestamp=_get(audio, "timestamp"),
        )
    if kind == "DtmfData":
        return Dtmf(tone=str(_get(_get(message, "dtmfData") or {}, "data")))
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
