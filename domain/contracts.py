"""Inputs and results at every workflow/activity boundary: one model each.

Workflows import only `domain`, so these models live here rather than beside the activities.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from domain.call import (
    CallInitiate,
    CallState,
    CallStatus,
    Next,
    Reminder,
    ReminderStatus,
    Style,
    Synthesis,
)
from domain.claim import FieldUpdate
from domain.flags import FeatureFlags
from domain.reminder_retry import ReminderRetryRules
from domain.usage import LlmTokens

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
    # "phone": the workflow places (or answers) a real call; "chat": text turns only.
    channel: Literal["chat", "phone"] = "chat"
    # Deprecated, never set any more: the secrets are derived (`core/call_secrets.py`). Kept
    # so executions started before still replay and their URLs stay valid until they end.
    callback_secret: str | None = None
    media_token: str | None = None
    incoming: IncomingCall | None = None  # inbound: answer this call
    follow_up_of: str | None = None  # placed by a reminder of that call


class UserTurn(BaseModel):
    """One thing the caller said (update `user_turn`)."""

    text: str
    # Set by a channel that numbers its turns (the media gateway); a turn not newer than the
    # last one applied is stale and rejected. Chat leaves it empty and gets the next number.
    turn_id: int | None = Field(default=None, ge=1)
    channel: Literal["voice", "chat", "sms"] = "chat"
    speech_ended_at: datetime | None = None
    reply_to: str | None = None  # an SMS turn: the bot answers by SMS to this number


class BargeIn(BaseModel):
    """The caller spoke over the bot (signal `barge_in` from the media gateway).

    The gateway has already stopped the audio; the workflow cancels the LLM activity still
    running for that turn and keeps only what the caller actually heard.
    """

    turn_id: int
    heard_text: str = ""


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
    # With `llm.guardrails` (a setting the workflow cannot read): the workflow applies them.
    guardrails: bool = False
    # Answers the activity took from the caller's turn and showed the model as already stored.
    prefill: list[FieldUpdate] = Field(default_factory=list)
    # The turn policy that ran (`domain/turn/`): the workflow keeps it in the call's state.
    turn_policy: Literal["hosted", "small"] | None = None
    # Tokens of the completion, per model (`domain/usage.py`); empty when none was reported.
    usage: list[LlmTokens] = Field(default_factory=list)


class SaveCallInput(BaseModel):
    call: CallState
    # The stored messages before this index are kept and `call.messages` follows them (0: the
    # whole state). The Temporal core holds every local activity's input while the run is
    # cached, so a workflow sends only the messages that changed since its last save.
    messages_from: int = Field(default=0, ge=0)


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


# `SentenceEvent.index` of the filler (said before an answer's first sentence, at most once)
# and the base of the static phrases' indices (errors, notices), so that no two entries of the
# same turn and iteration share a key.
FILLER_INDEX = -1
SPEAK_INDEX_BASE = 1_000_000


class SentenceEvent(BaseModel):
    """One entry of a call's sentence stream, read by the media gateway to speak it.

    `(turn_id, iteration, index)` is the entry's key: the LLM's sentences count from 0 in each
    iteration, the filler is `FILLER_INDEX`, a static phrase `SPEAK_INDEX_BASE` + its activity's
    sequence number. An activity retry re-appends the same keys, which the stream ignores.
    """

    turn_id: int
    iteration: int = 0
    index: int = 0
    kind: Literal["sentence", "filler", "error", "notice", "end"]
    text: str = ""
    style: Style = Style.NONE
    lang: str = "en-US"
    rate: float = 1.0


# --- telephony (phone calls through ACS) --------------------------------------------------


class AcsEvent(BaseModel):
    """A verified Call Automation callback event, as the workflow receives it (signal)."""

    id: str
    type: str  # without the "Microsoft.Communication." prefix, e.g. "CallConnected"
    connection_id: str | None = None
    server_call_id: str | None = None
    correlation_id: str | None = None
    operation_context: str | None = None
    result_code: int | None = None
    result_sub_code: int | None = None
    result_message: str | None = None
    data: dict[str, object] = Field(default_factory=dict)  # the event's whole `data`


class ConnectInput(BaseModel):
    """Place (outbound) or answer (inbound) the call (activity `connect_call`).

    The activity derives the call's callback secret and media token itself: inputs recorded
    before that still carry them, and they are ignored.
    """

    call_id: str
    to: str
    incoming_call_context: str | None = None
    start_media: bool


class IncomingCall(BaseModel):
    """An Event Grid `IncomingCall` for the bot's number (signal or start input)."""

    caller: str  # E.164
    incoming_call_context: str
    server_call_id: str | None = None
    correlation_id: str | None = None


AudioFormat = Literal["pcm16k", "pcm24k"]


class PlaceCallInput(BaseModel):
    """Ring the customer (activity `place_call`): ACS `create_call` with media streaming."""

    call_id: str
    to: str
    callback_url: str
    media_url: str | None  # wss URL with the per-call token; None: no media streaming
    audio_format: AudioFormat = "pcm16k"
    start_media: bool = False


class AnswerCallInput(BaseModel):
    call_id: str
    incoming_call_context: str
    callback_url: str
    media_url: str | None
    audio_format: AudioFormat = "pcm16k"
    start_media: bool = False


class CallConnection(BaseModel):
    connection_id: str
    server_call_id: str | None = None
    correlation_id: str | None = None


class ConnectionStateInput(BaseModel):
    call_id: str
    connection_id: str


class ConnectionState(BaseModel):
    """What ACS says of a connection now (a lost callback is reconciled from this)."""

    # ACS's `callConnectionState` ("connecting", "connected", "transferring", "disconnected"…);
    # "gone" when ACS no longer knows the connection (404).
    state: str
    server_call_id: str | None = None


class PlayInput(BaseModel):
    """Play a text (or SSML) to everyone on the call; events carry `operation_context`."""

    call_id: str
    connection_id: str
    text: str
    voice: str
    lang: str
    ssml: bool = False
    operation_context: str
    custom_voice_endpoint_id: str | None = None  # the deployment of `voice`, a custom one


class RecognizeChoice(BaseModel):
    label: str
    phrases: list[str]
    tone: str  # DTMF tone name: "one", "two", ...


class PromptPart(BaseModel):
    """One sentence of a prompt, in its own language and voice (an entry of the menu)."""

    text: str
    voice: str
    lang: str
    custom_voice_endpoint_id: str | None = None


class RecognizeInput(BaseModel):
    """Prompt then recognise one of `choices` by DTMF or speech (the language menu).

    `prompts`, when given, are played in order instead of `prompt` (each language's entry in
    its own voice); `prompt` is then their text, for logs and older workers.
    """

    call_id: str
    connection_id: str
    target: str  # the caller's E.164 number
    prompt: str
    voice: str
    lang: str
    custom_voice_endpoint_id: str | None = None  # the deployment of `voice`, a custom one
    prompts: list[PromptPart] = Field(default_factory=list)
    choices: list[RecognizeChoice]
    operation_context: str
    silence_timeout_sec: int = 10


class MediaInput(BaseModel):
    call_id: str
    connection_id: str
    operation_context: str = ""


class RecordingInput(BaseModel):
    call_id: str
    server_call_id: str


# --- after the call ---------------------------------------------------------------------


class PostCallInput(BaseModel):
    call: CallState


class PostCallResult(BaseModel):
    synthesis: Synthesis | None = None
    next: Next | None = None
    sms_summary: str | None = None
    errors: list[str] = Field(default_factory=list)
    # Tokens of the post-call completions (`domain/usage.py`).
    usage: list[LlmTokens] = Field(default_factory=list)


class ReminderInput(BaseModel):
    """Starts (or, by signal-with-start, reschedules) a `ReminderWorkflow`."""

    call_id: str
    reminder: Reminder
    initiate: CallInitiate
    claim: dict[str, str | None] = Field(default_factory=dict)
    max_attempts: int = Field(default=5, ge=1, le=50)
    first_retry_sec: float = Field(default=60.0, gt=0)
    max_retry_sec: float = Field(default=3_600.0, gt=0)
    # How an unanswered call back is retried (patch `reminder-call-outcome`); None in inputs
    # recorded before it: the defaults.
    retry: ReminderRetryRules | None = None


class ScheduleReminderInput(BaseModel):
    reminder: ReminderInput


class CancelRemindersInput(BaseModel):
    call_id: str
    titles: list[str]


class FollowUpInput(BaseModel):
    """Carry out a due reminder (activity `follow_up`)."""

    call_id: str
    reminder: Reminder
    initiate: CallInitiate
    claim: dict[str, str | None] = Field(default_factory=dict)
    attempt: int
    # Which call back of the reminder this is (1 + the unanswered ones before it): each has its
    # own call id, while a retried attempt of the same one finds it already placed.
    dial: int = 1


class FollowUpResult(BaseModel):
    kind: Literal["call", "sms"]
    detail: str
    # A call back's channel and id: a phone call's outcome is watched (None in results
    # recorded before patch `reminder-call-outcome`).
    channel: Literal["phone", "chat"] | None = None
    call_id: str | None = None


class ReminderStatusUpdate(BaseModel):
    """A reminder's progress, sent to its call (signal) or written to the store."""

    call_id: str
    title: str
    status: ReminderStatus
    attempts: int = 0
    last_error: str | None = None
    at: datetime
    last_outcome: str | None = None  # the last call back's `CallOutcome`


CallInput.model_rebuild()
