"""What the scripted-caller API exposes: phones, calls and everything that happened on them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from acs_emulator.config import AnswerMode

CallState = Literal["ringing", "connected", "disconnected", "transferred"]
OpStatus = Literal["queued", "playing", "listening", "completed", "failed", "canceled"]


class PhoneConfig(BaseModel):
    """A simulated PSTN phone and how it treats calls that ring it."""

    number: str
    answer: AnswerMode = "auto"
    answer_delay_ms: float = Field(default=50.0, ge=0)
    ring_timeout_ms: float | None = Field(default=None, ge=0)  # None: the emulator default
    # An answering machine records this long after its greeting, then hangs up.
    message_max_ms: float = Field(default=20_000.0, ge=0)
    has_greeting: bool = False  # audio set with POST /_emulator/phones/{number}/greeting
    # When the phone was added to a call (add participant, e.g. the agent of a warm
    # transfer): the keys it presses once a recognize aimed at it listens ("1": accept), and
    # when it hangs up on its own (ms after it joined). None: it presses nothing, stays on.
    keys: str | None = Field(default=None, pattern=r"^[0-9*#A-Da-d]+$")
    hang_up_after_ms: float | None = Field(default=None, ge=0)


class ResultInfo(BaseModel):
    code: int
    sub_code: int
    message: str


class Delivery(BaseModel):
    """One HTTP POST of an event: status is None when the request itself failed."""

    url: str
    status: int | None = None
    error: str | None = None
    sent_at: datetime | None = None
    duration_ms: float | None = None
    attempts: int = 1  # more when the connection failed before an answer (see events.py)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class EventRecord(BaseModel):
    id: str
    type: str  # short name, e.g. "CallConnected"
    time: datetime
    data: dict[str, Any]
    delivery: Delivery | None = None  # None while queued


class PlaySourceRecord(BaseModel):
    kind: str
    text: str | None = None
    ssml: str | None = None
    voice: str | None = None
    url: str | None = None


class PlayRecord(BaseModel):
    id: str
    sources: list[PlaySourceRecord]
    play_to: list[str] = Field(default_factory=list)  # raw ids; empty: everyone (play to all)
    operation_context: str | None = None
    loop: bool = False
    interrupt: bool = False
    status: OpStatus = "queued"
    duration_ms: float = 0.0
    started_at: datetime | None = None
    ended_at: datetime | None = None


class RecognizeRecord(BaseModel):
    id: str
    input_type: str
    target: str | None = None  # raw id of the participant listened to
    operation_context: str | None = None
    prompt: list[PlaySourceRecord] = Field(default_factory=list)
    choices: list[dict[str, Any]] = Field(default_factory=list)
    interrupt_prompt: bool = False
    status: OpStatus = "queued"
    result: dict[str, Any] | None = None  # recognitionType and its *Result, as sent
    result_information: ResultInfo | None = None


class TransferRecord(BaseModel):
    target: str  # raw id
    operation_context: str | None = None
    outcome: Literal["pending", "accepted", "failed", "abandoned"] = "pending"
    result_information: ResultInfo | None = None


ParticipantState = Literal["ringing", "joined", "failed", "canceled", "removed", "left"]


class ParticipantRecord(BaseModel):
    """A phone the bot added to the call (`participants:add`) and what it went through."""

    raw_id: str
    number: str
    invitation_id: str
    operation_context: str | None = None
    state: ParticipantState = "ringing"
    invited_at: datetime
    joined_at: datetime | None = None
    ended_at: datetime | None = None
    result_information: ResultInfo | None = None  # why it failed, or why it left
    # What it was played (text and SSML as sent; a recognize's prompt too), in order.
    heard: list[str] = Field(default_factory=list)
    dtmf_pressed: list[str] = Field(default_factory=list)


class HoldRecord(BaseModel):
    """One hold or unhold request."""

    target: str  # raw id
    action: Literal["hold", "unhold"]
    at: datetime
    music: list[PlaySourceRecord] = Field(default_factory=list)
    operation_context: str | None = None


class HangUpRecord(BaseModel):
    by: Literal["bot", "phone", "network", "transfer", "emulator"]
    reason: str
    at: datetime
    result_information: ResultInfo | None = None


class MediaRecord(BaseModel):
    configured: bool = False
    transport_url: str | None = None
    audio_format: str | None = None
    sample_rate: int | None = None
    frame_bytes: int | None = None
    bidirectional: bool = False
    dtmf_enabled: bool = False
    start_requested: bool = False
    connected: bool = False
    connect_error: str | None = None
    metadata_sent: dict[str, Any] | None = None
    frames_sent: int = 0
    audio_frames_sent: int = 0  # frames carrying the phone's queued audio (silent: false)
    silent_frames_sent: int = 0
    dtmf_sent: list[str] = Field(default_factory=list)
    audio_frames_received: int = 0
    audio_bytes_received: int = 0
    frames_ignored: int = 0  # bot audio while bidirectional streaming is off
    stop_audio_count: int = 0
    stop_audio_times_s: list[float] = Field(default_factory=list)  # since the socket opened
    bot_audio_heard_ms: float = 0.0  # played out before a StopAudio discarded the rest
    bot_audio_discarded_ms: float = 0.0
    closed_by: Literal["emulator", "server"] | None = None
    close_code: int | None = None


class RecordingRecord(BaseModel):
    recording_id: str
    state: Literal["active", "inactive", "stopped"]
    callback_uri: str | None = None


class CallRecord(BaseModel):
    """One call leg of the bot, as the emulator saw it."""

    connection_id: str
    server_call_id: str
    correlation_id: str
    direction: Literal["outbound", "inbound"]
    phone_number: str  # the PSTN party (callee of an outbound call, caller of an inbound one)
    from_number: str
    to_number: str
    state: CallState = "ringing"
    callback_uri: str | None = None
    api_version: str | None = None
    operation_context: str | None = None
    created_at: datetime
    connected_at: datetime | None = None
    ended_at: datetime | None = None
    incoming_call_context: str | None = None
    incoming_call_delivery: Delivery | None = None
    events: list[EventRecord] = Field(default_factory=list)
    plays: list[PlayRecord] = Field(default_factory=list)
    recognizes: list[RecognizeRecord] = Field(default_factory=list)
    transfers: list[TransferRecord] = Field(default_factory=list)
    added: list[ParticipantRecord] = Field(default_factory=list)  # participants:add
    holds: list[HoldRecord] = Field(default_factory=list)
    on_hold: list[str] = Field(default_factory=list)  # raw ids held now
    # The phone hung up while a participant the bot added was on: the call went on without it.
    phone_left_at: datetime | None = None
    # The people still talking to each other after the bot left (hang_up not for everyone):
    # a warm transfer's caller and agent. Empty when the call ended for everyone.
    continued_between: list[str] = Field(default_factory=list)
    hang_up: HangUpRecord | None = None
    media: MediaRecord = Field(default_factory=MediaRecord)
    recordings: list[RecordingRecord] = Field(default_factory=list)
    dtmf_pressed: list[str] = Field(default_factory=list)
    dtmf_ignored: list[str] = Field(default_factory=list)  # pressed while nothing listened
    speech_said: list[str] = Field(default_factory=list)

    def event_types(self) -> list[str]:
        return [event.type for event in self.events]

    def events_of(self, event_type: str) -> list[EventRecord]:
        return [event for event in self.events if event.type == event_type]


class DialResult(BaseModel):
    """What `dial` did: the IncomingCall delivery and the ids the bot will see."""

    connection_id: str
    server_call_id: str
    correlation_id: str
    incoming_call_context: str
    delivered: bool
    detail: str = ""
    delivery: Delivery | None = None


class ValidationRecord(BaseModel):
    """One Event Grid subscription-validation handshake."""

    url: str
    ok: bool
    status: int | None = None
    detail: str = ""
    at: datetime


class EmulatorInfo(BaseModel):
    endpoint: str
    resource_id: str
    bot_number: str
    issuer: str
    jwks_url: str
    event_grid_url: str | None


class SmsRecord(BaseModel):
    """One recipient of an SMS the bot sent (`POST /sms`), as the emulator handled it."""

    message_id: str | None  # None when the recipient's result was a failure
    from_number: str
    to_number: str
    body: str
    tag: str | None = None
    delivery_report: bool = False
    repeatability_request_id: str | None = None
    successful: bool
    http_status_code: int
    error_message: str | None = None
    sent_at: datetime


class InboundSmsResult(BaseModel):
    """What `send_sms_to_bot` did: the SMSReceived event and its Event Grid delivery."""

    message_id: str
    event: dict[str, Any]
    delivered: bool
    detail: str = ""
    delivery: Delivery | None = None
