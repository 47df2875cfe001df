"""What a turn policy decides before the model runs (shared by the policies and the composer)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.call import CallState
from domain.claim import FieldUpdate
from domain.contracts import LlmToolCallRequest
from domain.prompts import Profile


@dataclass(frozen=True)
class TurnPlan:
    """What a policy decided before the model runs."""

    call: CallState  # the state the model is shown: with the prefilled answers as stored
    offered: frozenset[str]  # the tools the model may call
    prefill: list[FieldUpdate]  # answers taken from the caller's words, stored by the workflow
    intent: list[LlmToolCallRequest]  # what the caller clearly asked for
    answer_without_model: bool  # the intent is the whole turn: no model round
    profile: Profile  # which prompt the model gets
    schemas: bool  # tools offered as JSON schemas (else described in the prompt's text)
    slot_hint: bool  # the prompt names the next field to ask for
    # The policy's own sentences, spoken before the model's (or instead, without the model).
    say: tuple[str, ...] = ()
    # Only the model's first this many sentences are considered, each spoken when usable and
    # dropped otherwise; the rest of its answer is not waited for (None: all of them).
    model_sentences: int | None = None
    # A cap on the model's answer below the model's own `max_tokens` (None: no cap).
    max_tokens: int | None = None
    handed_over: bool = False  # the iteration after a hand-off: no question follows
    ack_only: bool = False  # the model is asked only to acknowledge the caller's last turn
    # The model's answer is waited for this long at most, then the bot's own words follow (a
    # slow acknowledgement must never cost the turn). None: the call's own timeouts.
    model_budget_s: float | None = None
