"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from domain.call import (
    E164,
    MAX_TASK_CHARS,
    MAX_VOICEMAIL_CHARS,
    CallState,
    CallStatus,
    LanguageConfig,
    MachineAction,
)
from domain.calling_hours import CallingWindow
from domain.campaign import (
    MAX_CONCURRENCY,
    MAX_CONTACTS,
    CallTemplate,
    CampaignCost,
    CampaignStatus,
    Contact,
    RetryRules,
)
from domain.claim import ClaimField
from domain.contracts import MAX_TURN_CHARS
from domain.phrases import PhraseOverrides
from domain.prompt_templates import PromptOverrides
from domain.transfer import TransferMode
from domain.webhooks import check_event_url


class CallCreate(BaseModel):
    """`POST /call`: only the number is required; the rest defaults to the configuration."""

    phone_number: E164
    bot_company: str | None = Field(default=None, min_length=1, max_length=100)
    bot_name: str | None = Field(default=None, min_length=1, max_length=100)
    agent_phone_number: E164 | None = None
    bot_phone_number: E164 | None = None
    task: str | None = Field(default=None, min_length=1, max_length=MAX_TASK_CHARS)
    prosody_rate: float | None = Field(default=None, ge=0.75, le=1.25)
    claim: list[ClaimField] | None = Field(default=None, max_length=50)
    lang: LanguageConfig | None = None
    phrases: PhraseOverrides | None = Field(
        default=None,
        description=(
            'Phrases for this call, by language then key (`{"fr": {"hello": "Bonjour, ici '
            '{bot_name}."}}`), over the configured ones; placeholders are checked (422)'
        ),
    )
    prompts: PromptOverrides | None = Field(
        default=None,
        description=(
            "Prompt templates for this call: system, chat, small, small_ack (the turn prompts);"
            " synthesis, next, sms (after the call)."
        ),
    )
    machine_action: MachineAction | None = Field(
        default=None,
        description=(
            "Answering-machine detection on an outbound call: when a machine answers, "
            '"leave_message" (spoken after its beep) or "hang_up"; the outcome is `voicemail` '
            "either way. Unset: no detection, the bot greets whoever answers at once."
        ),
    )
    voicemail_message: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_VOICEMAIL_CHARS,
        description="The message left on a machine; by default one built from the task.",
    )
    transfer_mode: TransferMode | None = Field(
        default=None,
        description=(
            'When the caller asks for a person: "warm" (the caller holds while the agent hears '
            "a briefing of the claim and presses 1 to take the call; a decline or no answer "
            'brings the caller back to the bot and creates a call-back reminder) or "cold" '
            "(transferred at once). Default: the configured `conversation.transfer_mode`."
        ),
    )
    calling_hours: CallingWindow | None = Field(
        default=None,
        description=(
            "When this callee may be rung, in the zone of their number (days, local start and "
            "end, holidays): an outbound phone call placed outside it waits for the next "
            "opening before dialling, and so do the call backs of its reminders. Unset: dial "
            "at once (a reminder's call back keeps the deployment's `calling_hours`)."
        ),
    )
    webhook_url: Annotated[str, AfterValidator(check_event_url)] | None = Field(
        default=None,
        description=(
            "This call's own Standard Webhooks endpoint, besides the deployment's: https, no "
            "user:password, query or fragment (422), since it is kept in the call's history; "
            "deliveries are signed with the deployment's webhooks.secret"
        ),
    )


class CallCreated(BaseModel):
    call_id: str
    workflow_id: str
    temporal_ui_url: str
    status: CallStatus


class CallView(BaseModel):
    """A call as the API shows it: the stored state plus where to inspect it."""

    call: CallState
    in_progress: bool
    live: bool = Field(description="True when read from the running workflow")
    workflow_id: str
    temporal_ui_url: str


class CallList(BaseModel):
    calls: list[dict[str, Any]]
    next_cursor: str | None


class MessageCreate(BaseModel):
    """`POST /call/{id}/messages`: one text turn."""

    text: str = Field(min_length=1, max_length=MAX_TURN_CHARS)
    turn_id: int | None = Field(
        default=None,
        ge=1,
        description=(
            "The number of this turn, chosen by the client: the call's `last_turn_id` + 1. "
            "Send it: a resend with the same `turn_id` (after a 503, a timeout or a lost answer) "
            "returns the first outcome and is never applied twice; a `turn_id` not above the "
            "last one applied is a 409. Without it the call numbers the turn itself, and a "
            "resend is a new turn."
        ),
    )


class MessageReply(BaseModel):
    turn_id: int
    text: str
    tool_calls: list[str]
    status: CallStatus
    ended: bool


# --- campaigns -------------------------------------------------------------------------------


class CampaignCreate(BaseModel):
    """`POST /campaigns`: the contacts, what each call is about, and how to dial them.

    A list longer than a request holds (64 KiB, about 250 contacts) comes in pages: create the
    campaign `paused`, add pages with `POST /campaigns/{id}/contacts`, then resume it.
    """

    name: str = Field(default="", max_length=100)
    contacts: list[Contact] = Field(min_length=1, max_length=MAX_CONTACTS)
    call: CallTemplate = Field(default_factory=CallTemplate)
    concurrency: int = Field(default=5, ge=1, le=MAX_CONCURRENCY, description="Calls at once")
    starts_per_second: float | None = Field(
        default=1.0, ge=0.01, le=100, description="Pace of new calls; null: as fast as lines free"
    )
    calling_hours: CallingWindow | None = Field(
        default=None, description="In each callee's zone; null: the deployment's"
    )
    retry: RetryRules = Field(default_factory=RetryRules)
    do_not_call: list[E164] = Field(
        default_factory=list, max_length=MAX_CONTACTS, description="Numbers never to dial"
    )
    paused: bool = Field(default=False, description="Created paused (resume to start)")
    webhook_url: Annotated[str, AfterValidator(check_event_url)] | None = Field(
        default=None,
        description="This campaign's own webhook endpoint, beside the deployment's: its "
        "`campaign.*` events and its calls' `call.*` events, signed with `webhooks.secret`. "
        "No credentials, query string or fragment (it is kept in workflow history)",
    )


class CampaignContactsCreate(BaseModel):
    contacts: list[Contact] = Field(min_length=1, max_length=MAX_CONTACTS)


class CampaignContactsAdded(BaseModel):
    campaign_id: str
    contacts: int


class CampaignCreated(BaseModel):
    campaign_id: str
    workflow_id: str
    temporal_ui_url: str
    status: CampaignStatus
    contacts: int


class CampaignView(BaseModel):
    """A campaign's progress: contacts by state, finished contacts by outcome."""

    campaign_id: str
    name: str
    status: CampaignStatus
    created_at: datetime
    finished_at: datetime | None
    contacts: int
    states: dict[str, int] = Field(description="pending, dialling, done")
    outcomes: dict[str, int] = Field(description="Finished contacts by result")
    in_flight: int
    max_in_flight: int | None
    dials: int | None
    concurrency: int
    live: bool = Field(description="True when read from the running workflow")
    cost: CampaignCost = Field(description="Summed cost of its calls, per completed contact")
    workflow_id: str
    temporal_ui_url: str
