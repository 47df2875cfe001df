"""Emulator settings: fixed identity (keys, resource) and tunable behaviour (timings)."""

from __future__ import annotations

import base64
import secrets
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_ISSUER = "https://acscallautomation.communication.azure.com"
DEFAULT_BOT_NUMBER = "+18005550100"

# "voicemail": an answering machine picks up, plays the phone's greeting (and beep), records
# for `PhoneConfig.message_max_ms`, then hangs up. "auto" plays the greeting too, if it has one.
AnswerMode = Literal["auto", "never", "reject", "busy", "voicemail"]


def new_access_key() -> str:
    """A random ACS-style access key (base64 of 64 random bytes)."""
    return base64.b64encode(secrets.token_bytes(64)).decode()


class Timings(BaseModel):
    """Behaviour tests tune; every field can change at runtime (PATCH /_emulator/config)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt option must not pass silently

    play_ms_per_char: float = Field(default=40.0, ge=0)
    play_min_ms: float = Field(default=200.0, ge=0)
    file_play_ms: float = Field(default=1000.0, ge=0)  # file sources are not downloaded
    # Multiplies the recognize timeouts the bot asks for (initial silence, inter-tone, end
    # silence) and the invitation timeout of an added participant.
    time_scale: float = Field(default=1.0, gt=0)
    answer_delay_ms: float = Field(default=50.0, ge=0)
    # answer_call returns before CallConnected, as with the service: apps may store the id first.
    connect_delay_ms: float = Field(default=20.0, ge=0)
    ring_timeout_ms: float = Field(default=30_000.0, ge=0)
    unknown_numbers: AnswerMode = "auto"
    callback_timeout_s: float = Field(default=10.0, gt=0)
    media_connect_timeout_s: float = Field(default=5.0, gt=0)
    event_grid_url: str | None = None


class EmulatorConfig(BaseModel):
    """Identity of the emulated ACS resource plus its starting timings."""

    access_key: str = Field(default_factory=new_access_key)
    resource_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    bot_number: str = DEFAULT_BOT_NUMBER
    issuer: str = DEFAULT_ISSUER
    timings: Timings = Field(default_factory=Timings)
    repeatability_ttl_s: float = 300.0
    max_clock_skew_s: float = 900.0
    media_verify_tls: bool = True
