"""The turn policy: every decision of a turn that is not the model's, in pure code.

A policy decides what to prefill or answer without the model, what the model is shown (prompt
profile, tool schemas, the next field to ask for), which of its sentences and tool calls to
keep, and what the bot adds when the model forgets to ask for what is missing. `llm_turn` only
builds the prompt the policy asks for and streams the completion into sentences.

Two policies: `HostedPolicy` for capable hosted models (the reference's prompts, tools offered as
schemas, the model's tool calls kept) and `SmallModelPolicy` for local models of about a billion
parameters (a short prompt, tools described in text; with guardrails, the claim is owned by
deterministic code). One is chosen when the call's first turn runs and kept in the call's state
(`CallState.turn_policy`), so a settings change never switches a live call's behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from domain.call import CallState
from domain.claim import FieldUpdate
from domain.contracts import LlmToolCallRequest, LlmTurnInput
from domain.guardrails import (
    ANYTHING_ELSE,
    asks_for,
    echoes_caller,
    extract_answer,
    next_missing_field,
    question_for,
    refuses,
    repeats_bot,
    requested_tool,
    with_updates,
)
from domain.prompts import SMALL_TOOLS, Profile
from domain.tools import TOOL_NAMES
from domain.turn import composer
from domain.turn.plan import TurnPlan

PolicyName = Literal["hosted", "small"]


class TurnPolicy(Protocol):
    @property
    def name(self) -> PolicyName: ...

    @property
    def guardrails(self) -> bool: ...

    def plan(self, input: LlmTurnInput) -> TurnPlan: ...

    def unusable(self, sentence: str, call: CallState, said: list[str] | None = None) -> bool:
        """A sentence of the model never spoken nor stored (parroting the caller or the bot);
        `said` are the turn's sentences spoken so far."""
        ...

    def keep_calls(
        self, plan: TurnPlan, calls: list[LlmToolCallRequest], content_filtered: bool
    ) -> list[LlmToolCallRequest]: ...

    def closing_question(
        self,
        plan: TurnPlan,
        content: str,
        calls: list[LlmToolCallRequest],
        *,
        content_filtered: bool,
        tools_enabled: bool,
    ) -> str | None:
        """A sentence the bot appends after the model's answer, if any."""
        ...


@dataclass(frozen=True)
class _Policy:
    guardrails: bool

    name: PolicyName = "hosted"
    profile: Profile = "full"

    @property
    def _small(self) -> bool:
        return self.name == "small"

    @property
    def _owns_claim(self) -> bool:
        return self._small and self.guardrails

    def plan(self, input: LlmTurnInput) -> TurnPlan:
        if self._owns_claim:
            composed = composer.compose(input)
            if composed is not None:
                return composed
        offered = frozenset(TOOL_NAMES - set(input.blacklist))
        if self._small:
            offered &= SMALL_TOOLS  # described in the prompt's text, no schemas sent
        intent: list[LlmToolCallRequest] = []
        wanted = requested_tool(input.call) if self.guardrails else None
        if wanted in offered and input.tools_enabled:
            call_id = f"guardrail_{input.turn_id}_{input.iteration}_intent"
            intent = [LlmToolCallRequest(id=call_id, name=str(wanted))]
        prefill: list[FieldUpdate] = []
        if self.guardrails:
            # A small model stores nothing itself: every fact the caller gives is taken.
            prefill = extract_answer(input.call, free_text=self._small, unprompted=self._small)
        return TurnPlan(
            call=with_updates(input.call, prefill),
            offered=offered,
            prefill=prefill,
            intent=intent,
            # The caller asked for a person or said goodbye, which a small model misses (and
            # talks over): the workflow speaks its own notice or goodbye, no model is needed.
            answer_without_model=bool(intent) and self._small,
            profile=self.profile,
            schemas=input.tools_enabled and not self._small,
            slot_hint=self.guardrails,
        )

    def unusable(self, sentence: str, call: CallState, said: list[str] | None = None) -> bool:
        if not self._owns_claim:
            return False
        if refuses(sentence) or echoes_caller(sentence, call) or repeats_bot(sentence, call):
            return True
        return composer.unusable(sentence, call, said or [])

    def keep_calls(
        self, plan: TurnPlan, calls: list[LlmToolCallRequest], content_filtered: bool
    ) -> list[LlmToolCallRequest]:
        if self._owns_claim:
            # A small model's tool calls are mostly invented (measured: bench/tool_accuracy.py)
            # and each one costs another model round: the guardrails own the claim instead.
            calls = []
        wanted = {c.name for c in plan.intent}
        if plan.intent and not content_filtered and not wanted & {c.name for c in calls}:
            calls = [*calls, *plan.intent]  # asked clearly, but the model did not act on it
        return calls

    def closing_question(
        self,
        plan: TurnPlan,
        content: str,
        calls: list[LlmToolCallRequest],
        *,
        content_filtered: bool,
        tools_enabled: bool,
    ) -> str | None:
        if not self._owns_claim or not tools_enabled or content_filtered or calls:
            return None
        if plan.model_sentences is not None:
            # The composer's turn: the model only acknowledged (or said nothing usable).
            return composer.closing(plan, content) or None
        # A small model rarely asks for what is missing: the bot asks it itself, so that the
        # caller's answer is recognised and stored on the next turn.
        missing = next_missing_field(plan.call)
        if missing is not None and not asks_for(missing, content):
            question = question_for(missing)
            return None if question.casefold() in content.casefold() else question
        if missing is None and not content:
            return ANYTHING_ELSE
        return None


@dataclass(frozen=True)
class HostedPolicy(_Policy):
    """Capable hosted models: the reference's prompts and tool schemas, their calls kept."""

    name: PolicyName = "hosted"
    profile: Profile = "full"


@dataclass(frozen=True)
class SmallModelPolicy(_Policy):
    """Small local models: a short prompt; with guardrails, the bot owns the claim and asks."""

    name: PolicyName = "small"
    profile: Profile = "small"


def choose(profile: Profile) -> PolicyName:
    """The policy for the `llm.profile` setting."""
    return "small" if profile == "small" else "hosted"


def policy_for(name: PolicyName, *, guardrails: bool) -> TurnPolicy:
    if name == "small":
        return SmallModelPolicy(guardrails=guardrails)
    return HostedPolicy(guardrails=guardrails)
