"""Outbound campaigns: the contact list, its retry rules and the small models that cross the
campaign workflow's boundaries. Pure domain code (the workflow sandbox imports it).

The contacts and their numbers live in the campaign store (`activities/campaign_store.py`);
the workflow only ever holds ids: a contact's sequence number, its attempt and its call id.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from temporalio.common import SearchAttributeKey

from domain.call import MAX_TASK_CHARS, Action, CallState, LanguageConfig, Persona
from domain.calling_hours import CallingWindow
from domain.claim import ClaimField
from domain.contracts import CallInput
from domain.outcome import RETRYABLE_OUTCOMES, CallOutcome
from domain.phone import to_e164
from domain.templating import TemplateError, placeholders
from domain.usage import CallCost

E164 = Annotated[str, AfterValidator(to_e164)]

MAX_CONTACTS = 10_000
MAX_VARIABLES = 30
MAX_VARIABLE_CHARS = 500
MAX_CONCURRENCY = 200
# How far a retry may be put off; more is a new campaign.
MAX_RETRY_DELAY_SEC = 7 * 24 * 3600
MAX_RETRIES = 10


class CampaignStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLING = "cancelling"  # no new dials; the calls in progress finish
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class ContactState(StrEnum):
    PENDING = "pending"  # waiting for its (next) dial: due time, window, a free line
    DIALLING = "dialling"  # a call is in progress
    DONE = "done"  # final: `result` says how


class ContactResult(StrEnum):
    """A contact's final result: how its last call ended, or why it was never (re)dialled."""

    COMPLETED = "completed"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    REJECTED = "rejected"
    VOICEMAIL = "voicemail"
    FAILED = "failed"
    CALLER_HUNG_UP = "caller_hung_up"
    TRANSFERRED = "transferred"
    TRANSFER_FAILED = "transfer_failed"
    ABANDONED = "abandoned"
    DO_NOT_CALL = "do_not_call"  # on the list: never dialled (or asked during a call)
    CANCELLED = "cancelled"  # the campaign was cancelled first
    NEVER_OPEN = "never_open"  # its calling hours never open


class RetryRule(BaseModel):
    """Retry an outcome `count` more times, each `delay_sec` after the last call ended."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delay_sec: float = Field(ge=0, le=MAX_RETRY_DELAY_SEC)
    count: int = Field(ge=0, le=MAX_RETRIES)


class RetryRules(BaseModel):
    """Per retryable outcome (`RETRYABLE_OUTCOMES`); other outcomes are final at once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    no_answer: RetryRule = RetryRule(delay_sec=3_600, count=2)
    busy: RetryRule = RetryRule(delay_sec=900, count=2)
    voicemail: RetryRule = RetryRule(delay_sec=4 * 3_600, count=1)
    failed: RetryRule = RetryRule(delay_sec=1_800, count=1)

    def rule_for(self, outcome: CallOutcome) -> RetryRule | None:
        if outcome not in RETRYABLE_OUTCOMES:
            return None
        rule: RetryRule = getattr(self, outcome.value)
        return rule


def retry_delay(outcome: CallOutcome, attempt: int, rules: RetryRules) -> float | None:
    """Seconds until the next attempt after attempt number `attempt` (1-based) ended with
    `outcome`; None when the contact is done."""
    rule = rules.rule_for(outcome)
    if rule is None or attempt > rule.count:
        return None
    return rule.delay_sec


class Contact(BaseModel):
    """One person to call: the number, the variables that fill the task and prefill the claim,
    and optionally their own calling hours."""

    model_config = ConfigDict(extra="forbid")

    phone_number: E164
    variables: dict[str, str] = Field(default_factory=dict, max_length=MAX_VARIABLES)
    calling_hours: CallingWindow | None = None

    @field_validator("variables")
    @classmethod
    def _short_names_and_values(cls, variables: dict[str, str]) -> dict[str, str]:
        for name, value in variables.items():
            if not name.isidentifier() or len(name) > 64:
                raise ValueError(f"variable name {name!r}: letters, digits and _ (64 at most)")
            if len(value) > MAX_VARIABLE_CHARS:
                raise ValueError(f"variable {name}: longer than {MAX_VARIABLE_CHARS} characters")
        return variables


class CallTemplate(BaseModel):
    """What each call of the campaign is about; left-out fields take the configured defaults.
    `task` may name contact variables as `{name}`."""

    model_config = ConfigDict(extra="forbid")

    bot_company: str | None = Field(default=None, min_length=1, max_length=100)
    bot_name: str | None = Field(default=None, min_length=1, max_length=100)
    agent_phone_number: E164 | None = None
    bot_phone_number: E164 | None = None
    task: str | None = Field(default=None, min_length=1, max_length=MAX_TASK_CHARS)
    claim: list[ClaimField] | None = Field(default=None, max_length=50)
    lang: LanguageConfig | None = None

    @field_validator("task")
    @classmethod
    def _well_formed(cls, task: str | None) -> str | None:
        if task is not None:
            placeholders(task)  # TemplateError (a ValueError) names what is wrong
        return task


def fill_task(task: str, variables: dict[str, str], claim_fields: list[str]) -> str:
    """The task with the contact's variables; those named like claim fields are also given
    as already known, so the bot confirms them rather than asks.

    Raises:
        TemplateError: the task names a variable the contact lacks.
    """
    missing = [name for name in placeholders(task) if name not in variables]
    if missing:
        raise TemplateError(f"no value for {', '.join('{' + m + '}' for m in missing)}")
    text = task.format(**variables)
    known = {name: variables[name] for name in claim_fields if variables.get(name)}
    if known:
        facts = "; ".join(f"{name}: {value}" for name, value in known.items())
        text += f"\n\nAlready known about the customer (confirm, do not ask again): {facts}"
    return text[:MAX_TASK_CHARS]


def call_id_for(campaign_id: str, seq: int, attempt: int) -> str:
    """One call id per contact attempt: a retried start finds the call already placed."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"campaign/{campaign_id}/{seq}/{attempt}"))


def campaign_workflow_id(campaign_id: str) -> str:
    return f"campaign-{campaign_id}"


# --- what a call tells the campaign ------------------------------------------------------------

# A caller asking not to be called again (English and French, as the shipped phrases).
_DO_NOT_CALL = re.compile(
    r"\b(?:do not|don'?t|never)\s+(?:ever\s+)?(?:call|phone|ring|contact)\s+(?:me|us|this number)"
    r"|\bstop\s+(?:calling|phoning|ringing)\b"
    r"|\b(?:remove|take)\s+(?:me|my number|this number)\s+(?:off|from)\b"
    r"|\bdo[- ]not[- ]call\s+list\b"
    r"|\bne\s+(?:m'|me\s+)?(?:appelez|rappelez|contactez)\s+plus\b"
    r"|\barr[eê]tez\s+de\s+m'appeler\b",
    re.IGNORECASE,
)


def asked_not_to_be_called(call: CallState) -> bool:
    """Whether the caller asked, in their own words, not to be called again."""
    return any(
        m.persona is Persona.HUMAN and m.action is Action.TALK and _DO_NOT_CALL.search(m.content)
        for m in call.messages
    )


def outcome_of(call: CallState) -> CallOutcome:
    """How the call ended: its own outcome when it has one, else inferred from what happened
    (calls recorded before the outcome was kept)."""
    value: Any = getattr(call, "outcome", None)
    if value is not None:
        try:
            return CallOutcome(value)
        except ValueError:
            return CallOutcome.FAILED
    if call.had_interaction():
        return CallOutcome.COMPLETED
    if any(m.persona is Persona.ASSISTANT for m in call.messages):
        return CallOutcome.CALLER_HUNG_UP  # answered, greeted, said nothing
    return CallOutcome.NO_ANSWER


# --- workflow boundary models (ids and counts only, never a number) ---------------------------


class CampaignRef(BaseModel):
    campaign_id: str


class CampaignPlan(BaseModel):
    """What the workflow needs of the stored campaign at the start of each run."""

    status: CampaignStatus
    concurrency: int
    starts_per_second: float | None
    total: int
    search_attributes: bool  # the campaign attributes are registered on the server
    rotate_after_events: int  # continue as new past this history length
    # The campaign's own webhook endpoint (credential-free: it is kept in history).
    webhook_url: str | None = None


class InFlight(BaseModel):
    """A call the campaign placed and has not heard the end of."""

    seq: int
    attempt: int
    call_id: str


class CampaignCarry(BaseModel):
    """Carried across continue-as-new: bounded by the concurrency limit, not by the list."""

    in_flight: list[InFlight] = Field(default_factory=list)
    results: dict[str, int] = Field(default_factory=dict)  # final results so far
    dials: int = 0
    max_in_flight: int = 0
    paused: bool = False
    cancelled: bool = False
    runs: int = 1
    # Pauses and resumes so far: the sequence number of each one's webhook event.
    status_changes: int = 0


class CampaignInput(BaseModel):
    campaign_id: str
    carry: CampaignCarry = Field(default_factory=CampaignCarry)


class ClaimInput(BaseModel):
    campaign_id: str
    claim_id: str  # a retried claim returns the same contacts
    now: datetime
    limit: int = Field(ge=1)


class Dial(BaseModel):
    """One call to place. `call` is the child's input, as for any call: it carries the number
    (history is encrypted); the campaign's own input and state never do."""

    seq: int
    attempt: int
    call_id: str
    phone_key: str  # the keyed hash of the number (the `CallPhoneNumber` search attribute)
    call: CallInput


class ClaimResult(BaseModel):
    dials: list[Dial]
    next_due_at: datetime | None  # the earliest pending contact (retry or calling hours)
    open_contacts: int  # pending or dialling


class WatchInput(BaseModel):
    call_id: str


class CallEnd(BaseModel):
    outcome: CallOutcome


class RecordInput(BaseModel):
    campaign_id: str
    seq: int
    attempt: int
    call_id: str
    outcome: CallOutcome
    now: datetime


class RecordResult(BaseModel):
    result: ContactResult | None  # None: it will be retried
    retry_at: datetime | None = None


class FinishInput(BaseModel):
    campaign_id: str
    status: CampaignStatus
    now: datetime


class CampaignProgress(BaseModel):
    """The workflow's view (query `progress`)."""

    campaign_id: str
    status: CampaignStatus
    in_flight: int
    max_in_flight: int
    dials: int
    results: dict[str, int]
    runs: int


class CampaignCost(BaseModel):
    """What a campaign's calls cost, summed from each call's priced usage (`price_call`): the
    cost as last priced (after post-call for calls whose post-call has run)."""

    currency: str | None = Field(description="None while no call is priced")
    total: float = Field(description="Summed cost of the priced calls, in `currency`")
    calls: int = Field(description="Calls placed (every attempt)")
    priced_calls: int
    unpriced_calls: int = Field(description="Calls with no priced usage (yet)")
    completed_contacts: int = Field(description="Contacts whose call ended `completed`")
    per_completed_contact: float | None = Field(
        description="`total` / `completed_contacts`; None when no contact completed"
    )
    # Calls priced in another currency (the price table changed during the campaign): not in
    # `total`, shown apart rather than added up at a made-up rate.
    other_currencies: dict[str, float] = Field(default_factory=dict)


def campaign_cost(costs: list[CallCost | None], completed_contacts: int) -> CampaignCost:
    """The sum of the calls' costs (None: a call not priced yet, or never placed), in the
    currency most of them were priced in."""
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    for cost in costs:
        if cost is not None:
            totals[cost.currency] = totals.get(cost.currency, 0.0) + cost.total
            counts[cost.currency] = counts.get(cost.currency, 0) + 1
    currency = max(sorted(counts), key=lambda c: counts[c]) if counts else None
    total = round(totals.get(currency, 0.0), 6) if currency else 0.0
    return CampaignCost(
        currency=currency,
        total=total,
        calls=len(costs),
        priced_calls=counts.get(currency, 0) if currency else 0,
        unpriced_calls=sum(1 for cost in costs if cost is None),
        completed_contacts=completed_contacts,
        per_completed_contact=round(total / completed_contacts, 6)
        if completed_contacts and currency
        else None,
        other_currencies={c: round(t, 6) for c, t in totals.items() if c != currency},
    )


# --- search attributes (plaintext on the server: ids and counts only) ------------------------

# Set on the campaign and on each of its calls: `CampaignId = "…"` lists both.
CAMPAIGN_ID = SearchAttributeKey.for_keyword("CampaignId")
CAMPAIGN_STATUS = SearchAttributeKey.for_keyword("CampaignStatus")
CAMPAIGN_DONE = SearchAttributeKey.for_int("CampaignContactsDone")
CAMPAIGN_REGISTRATIONS: dict[str, str] = {
    CAMPAIGN_ID.name: "Keyword",
    CAMPAIGN_STATUS.name: "Keyword",
    CAMPAIGN_DONE.name: "Int",
}
