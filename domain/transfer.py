"""Handing a phone caller to a human agent: the mode, and the warm transfer's activity inputs.

"cold": ACS transfers the caller to the agent (`transferToParticipant`) and the bot is gone at
once, whether or not the agent takes it. "warm": the caller is held, the agent is added to the
call and briefed (`domain/briefing.py`), and only an agent who presses 1 gets the caller; a
decline, a hang-up or no answer brings the caller back to the bot.

The inputs carry the call and connection ids and the numbers already in the call's own input
(the caller's and the agent's); the briefing text is built from the claim the history holds.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

TransferMode = Literal["warm", "cold"]
DEFAULT_TRANSFER_MODE: TransferMode = "warm"
# How long the agent's phone rings (ACS `invitationTimeoutInSeconds`, at most 180).
AGENT_RING_SEC = 30
# How long the agent has to press a key after the briefing (the recognize's initial silence).
AGENT_ANSWER_SEC = 15


class AddAgentInput(BaseModel):
    """Hold the caller, then ring the agent into the call."""

    call_id: str
    connection_id: str
    customer: str
    agent: str
    ring_timeout_sec: int = Field(default=AGENT_RING_SEC, ge=1, le=180)
    operation_context: str


class AddAgentResult(BaseModel):
    invitation_id: str | None = None


class BriefAgentInput(BaseModel):
    """Play the briefing to the agent only, then listen for their key."""

    call_id: str
    connection_id: str
    agent: str
    briefing: str = Field(min_length=1, max_length=4_000)
    prompt: str = Field(min_length=1, max_length=400)
    voice: str
    lang: str
    custom_voice_endpoint_id: str | None = None
    answer_timeout_sec: int = Field(default=AGENT_ANSWER_SEC, ge=1, le=300)
    briefing_context: str
    answer_context: str


class FinishTransferInput(BaseModel):
    """Connect (take the caller off hold, the bot leaves) or give the caller back (release the
    agent: remove them, or withdraw the invitation still ringing; off hold)."""

    call_id: str
    connection_id: str
    customer: str
    agent: str
    connect: bool
    invitation_id: str | None = None  # an invitation to withdraw (the agent never joined)
    agent_joined: bool = False
    operation_context: str
