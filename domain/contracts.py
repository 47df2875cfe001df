"""Inputs and results at every workflow/activity boundary: one model each.

Workflows import only `domain`, so these models live here rather than beside the activities.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from domain.call import CallInitiate, CallState, CallStatus, Style
from domain.flags import FeatureFlags

MAX_TURN_CHARS = 2_000
MAX_LLM_ITERATIONS = 3
HISTORY_MESSAGES = 20

# --- CallWorkflow -------------------------------------------------------------------------


class CallInput(BaseModel):
    """Starts a `CallWorkflow`; `resume` carries the state across continue-as-new."""

    call_id: str
    initiate: CallInitiate
    direction: Literal["outbound", "inbound"] = "outbound"
    created_at: datetime | None = None
    resume: CallState | None = None


class UserTurn(BaseModel):
    """One thing the caller said (update `user_turn`)."""

    text: str
    # Set by a channel that numbers its turns (the media gateway); a turn not newer than the
    # last one applied is stale and rejected. Chat leaves it empty and gets the next number.
    turn_id: int | None = Field(default=None, ge=1)
    channel: Literal["voice", "chat", "sms"] = "chat"
    speech_ended_at: datetime | None = None


class TurnReply(BaseModel):
    """What the bot answered to a `UserTurn`."""

    turn_id: int
    text: str
    tool_calls: list[str] = Field(default_factory=list)
    status: CallStatus
    ended: bool = False


# --- activities ---------------------------------------------------------------------------


class LlmTurnInput(BaseModel):
    """One LLM iteration of a caller turn (activity `llm_turn`)."""

    call: CallState  # messages already trimmed to the history window
    turn_id: int
    iteration: int
    tools_enabled: bool = True
    blacklist: list[str] = Field(default_factory=list)
    flags: FeatureFlags = Field(default_factory=FeatureFlags)


class LlmToolCallRequest(BaseModel):
    """A tool call as the model asked for it; `arguments` is valid JSON after repair."""

    id: str
    name: str
    arguments: str = "{}"


class LlmTurnResult(BaseModel):
    content: str = ""
    style: Style = Style.NONE
    tool_calls: list[LlmToolCallRequest] = Field(default_factory=list)
    finish_reason: str = "stop"
    model: str = ""
    content_filtered: bool = False
    sentences: int = 0


class SaveCallInput(BaseModel):
    call: CallState


SpeakKind = Literal["error", "notice", "filler"]


class SpeakInput(BaseModel):
    """A static sentence for the sentence stream (error, notice), never an LLM answer."""

    call_id: str
    turn_id: int
    text: str
    kind: SpeakKind = "notice"
    style: Style = Style.NONE
    lang: str = "en-US"


class HangUpInput(BaseModel):
    call_id: str
    connection_id: str | None = None


class TransferInput(BaseModel):
    call_id: str
    connection_id: str | None = None
    target: str


class TransferResult(BaseModel):
    status: Literal["transferring", "queued", "failed"]
    detail: str = ""


class SendSmsInput(BaseModel):
    call_id: str
    to: str
    body: str = Field(min_length=1, max_length=1_600)


class SendSmsResult(BaseModel):
    message_id: str
    delivered: bool


class SearchInput(BaseModel):
    queries: list[str] = Field(min_length=1, max_length=10)
    lang: str | None = None


class SearchResult(BaseModel):
    text: str
    count: int


class EmergencyInput(BaseModel):
    call_id: str
    service: str
    reason: str
    location: str
    contact: str
    agent_phone_number: str


class EmergencyResult(BaseModel):
    notified: bool
    detail: str = ""


class ReadFlagsInput(BaseModel):
    """Empty on purpose: one model per boundary lets fields be added later."""


class SentenceEvent(BaseModel):
    """One entry of a call's sentence stream, read by the media gateway to speak it."""

    turn_id: int
    iteration: int = 0
    kind: Literal["sentence", "filler", "error", "notice", "end"]
    text: str = ""
    style: Style = Style.NONE
    lang: str = "en-US"
    rate: float = 1.0
