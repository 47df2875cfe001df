"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from domain.call import E164, MAX_TASK_CHARS, CallState, CallStatus, LanguageConfig
from domain.claim import ClaimField
from domain.contracts import MAX_TURN_CHARS
from domain.phrases import PhraseOverrides
from domain.prompt_templates import PromptOverrides


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
        description='System prompt templates for this call ("system", "chat", "small").',
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
