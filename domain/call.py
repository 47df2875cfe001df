"""The call and everything it holds: initiate request, messages, reminders, synthesis."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from domain.calling_hours import CallingWindow
from domain.claim import DEFAULT_CLAIM, ClaimField, full_schema, validate_value
from domain.outcome import CallOutcome
from domain.phone import timezone_for, to_e164
from domain.phrases import PhraseOverrides
from domain.prompt_templates import PromptOverrides
from domain.transfer import DEFAULT_TRANSFER_MODE, TransferMode
from domain.usage import CallUsage
from domain.webhooks import check_event_url

MAX_TASK_CHARS = 4_000

E164 = Annotated[str, AfterValidator(to_e164)]

DEFAULT_TASK = (
    "Help the customer with their insurance claim. Collect every field of the claim, be "
    "empathetic, and create reminders for follow-ups. The customer will be contacted again "
    "by a human agent after the call."
)


class Persona(StrEnum):
    ASSISTANT = "assistant"
    HUMAN = "human"
    TOOL = "tool"  # kept so stored calls of the reference still load


class Action(StrEnum):
    CALL = "call"
    HANGUP = "hangup"
    SMS = "sms"
    TALK = "talk"


class Style(StrEnum):
    CHEERFUL = "cheerful"
    NONE = "none"
    SAD = "sad"


class Language(BaseModel):
    """A language the bot can speak, with its TTS voice."""

    model_config = ConfigDict(frozen=True)

    short_code: str = Field(pattern=r"^[a-z]{2,3}-[A-Z]{2}$")
    voice: str
    pronunciations_en: list[str] = Field(default_factory=list)
    custom_voice_endpoint_id: str | None = None


class LanguageConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    default_short_code: str = "en-US"
    availables: list[Language] = Field(
        default_factory=lambda: [
            Language(
                short_code="en-US",
                voice="en-US-AvaMultilingualNeural",
                pronunciations_en=["English", "EN"],
            ),
            Language(
                short_code="fr-FR",
                voice="fr-FR-VivienneMultilingualNeural",
                pronunciations_en=["French", "FR"],
            ),
        ]
    )

    @model_validator(mode="after")
    def _default_is_available(self) -> LanguageConfig:
        codes = [lang.short_code for lang in self.availables]
        if not codes:
            raise ValueError("lang.availables must list at least one language")
        if self.default_short_code not in codes:
            raise ValueError(f"lang.default_short_code must be one of {codes}")
        return self

    def get(self, short_code: str | None) -> Language:
        for lang in self.availables:
            if lang.short_code == short_code:
                return lang
        return next(x for x in self.availables if x.short_code == self.default_short_code)


# What an outbound call does when an answering machine picks up (`media_gateway/amd.py` tells
# the workflow): leave a message after the beep, or hang up. The outcome is `voicemail` either
# way. None: no detection, the bot greets whoever answers at once.
MachineAction = Literal["leave_message", "hang_up"]
MAX_VOICEMAIL_CHARS = 600


class CallInitiate(BaseModel):
    """What a call is about: who calls whom, for which company, with which claim schema."""

    model_config = ConfigDict(frozen=True)

    phone_number: E164
    bot_company: str = Field(min_length=1, max_length=100)
    bot_name: str = Field(min_length=1, max_length=100)
    agent_phone_number: E164
    bot_phone_number: E164 | None = None
    task: str = Field(default=DEFAULT_TASK, min_length=1, max_length=MAX_TASK_CHARS)
    prosody_rate: float = Field(default=1.0, ge=0.75, le=1.25)
    claim: list[ClaimField] = Field(default_factory=lambda: list(DEFAULT_CLAIM), max_length=50)
    lang: LanguageConfig = Field(default_factory=LanguageConfig)
    # Phrase and prompt templates that replace the shipped ones for this call (checked).
    phrases: PhraseOverrides = Field(default_factory=dict)
    prompts: PromptOverrides = Field(default_factory=dict)
    # This call's own webhook endpoint (beside the deployment's): no credentials, it is kept
    # in history (`domain/webhooks.py`).
    webhook_url: Annotated[str, AfterValidator(check_event_url)] | None = None
    machine_action: MachineAction | None = None
    # The message left on a machine; None: built from the task (`voicemail_message`).
    voicemail_message: str | None = Field(
        default=None, min_length=1, max_length=MAX_VOICEMAIL_CHARS
    )
    # How a phone caller who asks for a person is handed over (`domain/transfer.py`).
    transfer_mode: TransferMode = DEFAULT_TRANSFER_MODE
    # Claim values known before the call (a campaign contact's variables named like claim
    # fields): the call starts with them in its claim, checked and normalised like the bot's.
    claim_prefill: dict[str, str] = Field(default_factory=dict, max_length=50)
    # When this callee may be rung, in the zone of their number: an outbound phone call placed
    # outside it waits for the next opening, and so do its reminders' call backs. None: the
    # call dials at once (a reminder's call back: the deployment's `calling_hours`).
    calling_hours: CallingWindow | None = None

    @field_validator("claim")
    @classmethod
    def _unique_names(cls, fields: list[ClaimField]) -> list[ClaimField]:
        names = [f.name for f in fields]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate claim field names: {', '.join(dupes)}")
        return fields

    @field_validator("claim_prefill")
    @classmethod
    def _prefill_fits_the_claim(
        cls, values: dict[str, str], info: ValidationInfo
    ) -> dict[str, str]:
        """Each value is for a field of the claim and of its type (a date in the callee's
        zone); normalised as the bot's own updates are. Declared after `phone_number` and
        `claim`, which it reads (a failed one is absent: nothing more to check)."""
        if not values:
            return values
        claim, number = info.data.get("claim"), info.data.get("phone_number")
        if claim is None or number is None:
            return values
        fields = {f.name: f for f in full_schema(claim)}
        checked: dict[str, str] = {}
        for name, raw in values.items():
            field = fields.get(name)
            if field is None:
                raise ValueError(f"claim_prefill: {name} is not a field of the claim")
            try:
                checked[name] = validate_value(field, raw, timezone_for(number))
            except ValueError as exc:
                raise ValueError(f"claim_prefill: {name} ({field.type.value}): {exc}") from None
        return checked

    def claim_schema(self) -> list[ClaimField]:
        return full_schema(self.claim)


class ToolCall(BaseModel):
    """A tool the LLM called and, once run, its result."""

    tool_id: str
    function_name: str
    function_arguments: str = "{}"
    content: str | None = None


class Message(BaseModel):
    """One entry of the conversation, in the reference's shape."""

    created_at: datetime
    persona: Persona
    action: Action = Action.TALK
    style: Style = Style.NONE
    content: str = ""
    lang_short_code: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    turn_id: int | None = None


ReminderStatus = Literal["scheduled", "sent", "retrying", "failed", "cancelled"]


class Reminder(BaseModel):
    """A follow-up the bot promised; the title is its key. A `ReminderWorkflow` carries it out."""

    created_at: datetime
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2_000)
    due_date_time: datetime
    owner: str | None = None
    updated_at: datetime | None = None
    status: ReminderStatus = "scheduled"
    attempts: int = 0
    last_error: str | None = None
    done_at: datetime | None = None
    # How the last call back ended (a `CallOutcome` value): "no_answer" while it is retried.
    last_outcome: str | None = None


class NextAction(StrEnum):
    CASE_CLOSED = "case_closed"
    COMMERCIAL_OFFER = "commercial_offer"
    CUSTOMER_WILL_SEND_INFO = "customer_will_send_info"
    HIGH_PRIORITY = "high_priority"
    PROPOSE_NEW_CONTRACT = "propose_new_contract"
    REQUIRES_EXPERTISE = "requires_expertise"


class Next(BaseModel):
    action: NextAction
    justification: str


class Satisfaction(StrEnum):
    TERRIBLE = "terrible"
    LOW = "low"
    PARTIAL = "partial"
    HIGH = "high"
    UNKNOW = "unknow"  # spelled as in the reference so stored data stays compatible


class Synthesis(BaseModel):
    long: str = Field(description="Markdown summary of the whole conversation")
    short: str = Field(description="A few words, e.g. 'the theft of your car'")
    satisfaction: Satisfaction
    improvement_suggestions: str


class CallStatus(StrEnum):
    """Lifecycle of a call as shown in the UI and search attributes."""

    STARTING = "starting"
    IN_PROGRESS = "in_progress"
    TRANSFERRING = "transferring"
    ENDED = "ended"


class Handoff(BaseModel):
    """A request to hand the customer over to a human agent."""

    requested_at: datetime
    target: str
    status: Literal["requested", "transferring", "failed", "queued"]
    detail: str | None = None


class Emergency(BaseModel):
    created_at: datetime
    service: str
    reason: str
    location: str
    contact: str
    notified: bool = False


class ClosedClaim(BaseModel):
    """A claim set aside by `new_claim`; kept so no collected data is lost."""

    closed_at: datetime
    claim: dict[str, str | None]
    reminders: list[Reminder]


AnsweredBy = Literal["human", "machine", "unknown"]


class MachineDetection(BaseModel):
    """The answering-machine detector's decision on an outbound call (gateway → workflow).

    `kind` "beep": the machine's greeting ended (its beep, or a silence after it): a message
    starts now.
    """

    kind: Literal["human", "machine", "unknown", "beep"]
    after_ms: int = Field(ge=0, description="Time from the first audio of the answer")
    reason: str = Field(default="", max_length=200)


class MachineDetectionView(BaseModel):
    """What the media gateway asks the workflow at connect: run the detector or not."""

    wanted: bool
    answered_by: AnsweredBy | None = None
    machine_action: MachineAction | None = None


class CallState(BaseModel):
    """Everything known about one call. The workflow owns it; the store keeps a copy."""

    call_id: str
    created_at: datetime
    initiate: CallInitiate
    direction: Literal["outbound", "inbound"] = "outbound"
    status: CallStatus = CallStatus.STARTING
    claim: dict[str, str | None] = Field(default_factory=dict)
    messages: list[Message] = Field(default_factory=list)
    reminders: list[Reminder] = Field(default_factory=list)
    next: Next | None = None
    synthesis: Synthesis | None = None
    lang_short_code: str | None = None
    prosody_rate: float | None = None
    channel: Literal["chat", "phone"] = "chat"
    connection_id: str | None = None
    server_call_id: str | None = None
    # Deprecated: the random per-call secrets of calls started before they were derived
    # (`core/call_secrets.py`); kept, and still honoured, until those calls end. New calls
    # leave them empty.
    callback_secret: str | None = None
    media_token: str | None = None
    recognition_retry: int = 0
    last_turn_id: int = 0
    last_interaction_at: datetime | None = None
    updated_at: datetime | None = None
    closed_claims: list[ClosedClaim] = Field(default_factory=list)
    handoff: Handoff | None = None
    emergencies: list[Emergency] = Field(default_factory=list)
    # A follow-up call placed by a reminder points at the call that promised it.
    follow_up_of: str | None = None
    post_call_at: datetime | None = None
    # The turn policy (`domain/turn/`) chosen on the call's first turn, and whether its
    # guardrails apply; None in calls recorded before the policy was kept in the state.
    turn_policy: Literal["hosted", "small"] | None = None
    turn_guardrails: bool | None = None
    # What the call used, and its cost once ended (`domain/usage.py`).
    usage: CallUsage = Field(default_factory=CallUsage)
    # How the call ended (`domain/outcome.py`), set once when it ends; None while it runs and
    # in calls recorded before outcomes. `outcome_code`: the provider's "code/subCode" of a
    # failed or declined call (ACS `resultInformation`); `outcome_detail`: its message or why.
    outcome: CallOutcome | None = None
    outcome_code: str | None = None
    outcome_detail: str | None = None
    answered_by: AnsweredBy | None = None
    machine_detected_after_ms: int | None = None

    @property
    def in_progress(self) -> bool:
        return self.status in (CallStatus.IN_PROGRESS, CallStatus.TRANSFERRING)

    @property
    def lang(self) -> Language:
        return self.initiate.lang.get(self.lang_short_code)

    @property
    def speech_rate(self) -> float:
        return self.prosody_rate if self.prosody_rate is not None else self.initiate.prosody_rate

    def claim_schema(self) -> list[ClaimField]:
        return self.initiate.claim_schema()

    def without_secrets(self) -> CallState:
        """The call for anything that does not authenticate it: an activity, a reader, a new
        run resumed from the store."""
        return self.model_copy(update={"callback_secret": None, "media_token": None})

    def wants_machine_detection(self) -> bool:
        """An outbound phone call with a `machine_action`, not answered yet: the media
        gateway listens for a machine (no language menu before the media: one language)."""
        return (
            self.channel == "phone"
            and self.direction == "outbound"
            and self.initiate.machine_action is not None
            and self.answered_by is None
            and self.status is not CallStatus.ENDED
            and len(self.initiate.lang.availables) == 1
        )

    def end_with(
        self, outcome: CallOutcome, *, code: str | None = None, detail: str | None = None
    ) -> None:
        """Record how the call ended; the first outcome stands (a later event does not
        change what happened)."""
        if self.outcome is not None:
            return
        self.outcome = outcome
        self.outcome_code = code
        self.outcome_detail = detail[:200] if detail else detail

    def had_interaction(self) -> bool:
        """True when the customer said something (post-call is skipped otherwise)."""
        return any(m.persona is Persona.HUMAN and m.action is Action.TALK for m in self.messages)


def voicemail_message(initiate: CallInitiate) -> str:
    """The message left on an answering machine: the call's own, else one built from its task
    (its first sentence says what the call is about)."""
    if initiate.voicemail_message:
        return initiate.voicemail_message
    first = initiate.task.strip().split(". ")[0].strip().rstrip(".")
    about = first[:1].lower() + first[1:] if first else "your file"
    return (
        f"Hello, this is {initiate.bot_name} from {initiate.bot_company}. We are calling to "
        f"{about}. Please call us back at your convenience. Thank you, goodbye."
    )


# ACS `resultInformation` of a call that was not answered (`CreateCallFailed`, or the
# `CallDisconnected` of a call never connected). PSTN codes are the SIP status, subcodes
# "560" + it (MicrosoftDocs, "PSTN call response codes"; 540xxx for direct routing).
_SIP_OUTCOMES: dict[int, CallOutcome] = {
    408: CallOutcome.NO_ANSWER,  # request timeout: nobody picked up
    480: CallOutcome.NO_ANSWER,  # temporarily unavailable / no answer
    487: CallOutcome.NO_ANSWER,  # request terminated: the ringing was cancelled
    486: CallOutcome.BUSY,
    600: CallOutcome.BUSY,  # busy everywhere
    603: CallOutcome.REJECTED,  # declined
}


def outcome_of_failure(code: int | None, sub_code: int | None) -> CallOutcome:
    """The outcome of a call ACS could not connect, from its result code and subcode."""
    for value in (code, sub_code % 1000 if sub_code is not None and sub_code >= 1000 else None):
        if value is not None and value in _SIP_OUTCOMES:
            return _SIP_OUTCOMES[value]
    return CallOutcome.FAILED


def result_code(code: int | None, sub_code: int | None) -> str | None:
    """ "code/subCode" as ACS reports them, for the call's `outcome_code`."""
    if code is None and sub_code is None:
        return None
    return f"{code if code is not None else ''}/{sub_code if sub_code is not None else ''}"
