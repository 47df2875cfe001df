"""Feature flags: the live-tunable knobs of a call, each with a default and bounds.

Defaults follow the reference README. A value out of bounds is clamped, a value that does not
parse falls back to the default; either way the result is always usable by a running call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict


@dataclass(frozen=True)
class FlagSpec:
    """Type, default and inclusive bounds of one flag."""

    kind: type[int] | type[float] | type[bool]
    default: int | float | bool
    low: float | None = None
    high: float | None = None
    description: str = ""


FLAG_SPECS: dict[str, FlagSpec] = {
    "adaptive_end_of_turn": FlagSpec(
        bool, False, description="shorter silence after a complete sentence or question"
    ),
    "adaptive_silence_ms": FlagSpec(int, 200, 100, 2000, "that shorter silence"),
    "answer_hard_timeout_sec": FlagSpec(int, 15, 1, 120, "LLM answer abandoned after this"),
    "answer_soft_timeout_sec": FlagSpec(int, 4, 1, 60, "filler sentence spoken after this"),
    "callback_timeout_hour": FlagSpec(int, 3, 0, 168, "window to resume a dropped call"),
    "history_rotate_events": FlagSpec(
        int,
        400,
        0,
        40_000,
        "a call continues as new past this history length (0: when Temporal says)",
    ),
    "phone_silence_timeout_sec": FlagSpec(int, 20, 1, 600, "caller silence before a prompt"),
    "recognition_retry_max": FlagSpec(int, 3, 1, 10, "prompts/menus retried before goodbye"),
    "recognition_stt_complete_timeout_ms": FlagSpec(int, 100, 0, 5000, "wait for final STT"),
    "recording_enabled": FlagSpec(bool, False, description="record calls"),
    "slow_llm_for_chat": FlagSpec(bool, False, description="use the slow model for turns"),
    "vad_cutoff_timeout_ms": FlagSpec(int, 250, 50, 2000, "caller speech before barge-in"),
    "vad_silence_timeout_ms": FlagSpec(int, 500, 100, 5000, "silence that ends a turn"),
    "vad_threshold": FlagSpec(float, 0.5, 0.1, 1.0, "voice activity threshold"),
}


class FeatureFlags(BaseModel):
    """A validated snapshot of every flag."""

    model_config = ConfigDict(frozen=True)

    adaptive_end_of_turn: bool = False
    adaptive_silence_ms: int = 200
    answer_hard_timeout_sec: int = 15
    answer_soft_timeout_sec: int = 4
    callback_timeout_hour: int = 3
    history_rotate_events: int = 400
    phone_silence_timeout_sec: int = 20
    recognition_retry_max: int = 3
    recognition_stt_complete_timeout_ms: int = 100
    recording_enabled: bool = False
    slow_llm_for_chat: bool = False
    vad_cutoff_timeout_ms: int = 250
    vad_silence_timeout_ms: int = 500
    vad_threshold: float = 0.5


class InvalidFlag(ValueError):
    """Raised by `parse_flag` in strict mode for an unknown flag or an unparsable value."""


def parse_flag(name: str, raw: Any, *, strict: bool = False) -> int | float | bool:
    """Parse one raw value (string from a store, or a native value) and clamp it to its bounds.

    With `strict=False` an unparsable value gives the default (a running call must never break
    on a typo in the flag store); with `strict=True` it raises `InvalidFlag` (used when an
    operator sets a flag, so the typo is reported).
    """
    spec = FLAG_SPECS.get(name)
    if spec is None:
        raise InvalidFlag(f"unknown flag {name!r}; known: {', '.join(sorted(FLAG_SPECS))}")
    try:
        value = _coerce(spec, raw)
    except (TypeError, ValueError) as exc:
        if strict:
            raise InvalidFlag(f"{name}: {raw!r} is not a valid {spec.kind.__name__}") from exc
        return spec.default
    if isinstance(value, bool):
        return value
    if spec.low is not None and value < spec.low:
        value = spec.kind(spec.low)
    if spec.high is not None and value > spec.high:
        value = spec.kind(spec.high)
    return value


def _coerce(spec: FlagSpec, raw: Any) -> int | float | bool:
    if isinstance(raw, bytes):
        raw = raw.decode()
    if spec.kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off"}:
            return False
        raise ValueError(raw)
    if spec.kind is int:
        number = float(raw)
        if number != int(number):
            raise ValueError(raw)
        return int(number)
    return float(raw)


def flags_from_mapping(values: dict[str, Any]) -> FeatureFlags:
    """Build a snapshot from raw values, ignoring unknown keys, defaulting and clamping."""
    parsed = {k: parse_flag(k, v) for k, v in values.items() if k in FLAG_SPECS}
    return FeatureFlags(**parsed)
