"""After the call: synthesis, next action and the SMS summary.

A hosted model writes them: each answer is validated against its JSON schema; an invalid one
goes back to the model with the validation error, up to `attempts` times (as the reference
does). The three run at once. An answer still invalid, or one that is a refusal, is replaced by
the one built from the call's facts (`domain/after_call.py`).

A call run by the small-model policy gets the answers built from its facts, with no model at
all: a model of about a billion parameters invents syntheses and repeats its instructions as
the SMS, and a one-slot local server held for post-call work would make every live call wait.
"""

from __future__ import annotations

import asyncio
import json
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TypeVar

import json_repair
from pydantic import BaseModel, ValidationError
from temporalio import activity

from domain.after_call import (
    next_from_facts,
    sms_from_facts,
    synthesis_from_facts,
    usable_text,
)
from domain.call import CallState, Next, Synthesis
from domain.contracts import PostCallInput, PostCallResult
from domain.prompt_templates import PostCallPromptName
from domain.prompts import (
    NEXT_SYSTEM_TPL,
    SMS_SUMMARY_SYSTEM_TPL,
    SYNTHESIS_SYSTEM_TPL,
    VALIDATION_RETRY,
    post_call_context,
)
from domain.usage import LlmTokens
from providers.llm.base import ChatModel, LlmError

_M = TypeVar("_M", bound=BaseModel)
# The tokens of this activity's completions (the three run as tasks, which share the list).
_TOKENS: ContextVar[list[LlmTokens] | None] = ContextVar("post_call_tokens", default=None)
MAX_TOKENS = 1_000
SMS_MAX_CHARS = 320


class InvalidAnswer(ValueError):
    """The model did not produce a valid answer within the attempts."""


class PostCallActivities:
    def __init__(self, model: ChatModel, *, attempts: int = 3, json_schema: bool = False) -> None:
        """`json_schema`: the worker runs a small local model (`llm.profile: small`); a call
        whose state names no turn policy (recorded before it was kept) is treated as such."""
        self._model = model
        self._attempts = attempts
        self._json_schema = json_schema

    @activity.defn(name="post_call")
    async def post_call(self, input: PostCallInput) -> PostCallResult:
        call = input.call
        if self._small(call):
            # No model round: nothing to wait for, and the local model stays free for calls.
            return _from_facts(call)
        context = post_call_context(call, datetime.now(UTC))
        user = call.call_id
        tokens: list[LlmTokens] = []
        _TOKENS.set(tokens)
        synthesis, next_action, sms = await asyncio.gather(
            self._structured(_template(call, "synthesis"), Synthesis, context, user),
            self._structured(_template(call, "next"), Next, context, user),
            self._sms(_template(call, "sms"), context, user),
            return_exceptions=True,
        )
        errors = [
            f"{type(e).__name__}: {e}"
            for e in (synthesis, next_action, sms)
            if isinstance(e, Exception)
        ]
        for error in (synthesis, next_action, sms):
            if isinstance(error, LlmError):
                raise error  # the model is unreachable: let Temporal retry the activity
        # What the model could not give (or refused) is built from the call's facts.
        kept_synthesis = synthesis if isinstance(synthesis, Synthesis) else None
        if kept_synthesis is None or not _usable_synthesis(kept_synthesis):
            errors.append("synthesis: built from the call's facts")
            kept_synthesis = synthesis_from_facts(call)
        kept_next = next_action if isinstance(next_action, Next) else None
        if kept_next is None or not usable_text(kept_next.justification):
            errors.append("next: built from the call's facts")
            kept_next = next_from_facts(call)
        kept_sms = sms if isinstance(sms, str) else None
        if kept_sms is None:
            errors.append("sms: built from the call's facts")
            kept_sms = sms_from_facts(call, kept_next)
        return PostCallResult(
            synthesis=kept_synthesis,
            next=kept_next,
            sms_summary=kept_sms,
            errors=errors,
            usage=tokens,
        )

    def _small(self, call: CallState) -> bool:
        if call.turn_policy is not None:
            return call.turn_policy == "small"
        return self._json_schema

    async def _structured(
        self, template: str, model: type[_M], context: dict[str, str], user: str
    ) -> _M:
        shape = model.model_json_schema()
        schema = json.dumps(shape, ensure_ascii=False)
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": template.format(format=schema, **context)},
            {"role": "user", "content": f"Answer now with the {model.__name__} JSON object."},
        ]
        error = ""
        for _ in range(self._attempts):
            text = await self._complete(messages, user, shape if self._json_schema else None)
            try:
                return model.model_validate(_json_object(text))
            except (ValidationError, ValueError) as exc:
                error = str(exc)
                activity.logger.warning("invalid %s from the model: %s", model.__name__, error)
                messages.append({"role": "assistant", "content": text})
                messages.append({"role": "user", "content": VALIDATION_RETRY.format(error=error)})
        raise InvalidAnswer(f"no valid {model.__name__} after {self._attempts} attempts: {error}")

    async def _sms(self, template: str, context: dict[str, str], user: str) -> str:
        messages = [
            {"role": "system", "content": template.format(**context)},
            {"role": "user", "content": "Write the message now."},
        ]
        for _ in range(self._attempts):
            text = " ".join((await self._complete(messages, user)).split())
            if usable_text(text) and not _repeats_instructions(text):
                return text[:SMS_MAX_CHARS]
            activity.logger.warning("invalid SMS summary from the model: %r", text[:120])
        raise InvalidAnswer(f"no usable SMS summary after {self._attempts} attempts")

    async def _complete(
        self, messages: list[dict[str, Any]], user: str, json_schema: dict[str, Any] | None = None
    ) -> str:
        parts: list[str] = []
        stream = self._model.stream(
            messages, None, user=user, max_tokens=MAX_TOKENS, json_schema=json_schema
        )
        async for chunk in stream:
            parts.append(chunk.text)
            activity.heartbeat()
            if chunk.usage is not None and (tokens := _TOKENS.get()) is not None:
                tokens.append(
                    LlmTokens(
                        model=self._model.name,
                        prompt_tokens=chunk.usage.prompt_tokens,
                        completion_tokens=chunk.usage.completion_tokens,
                        cached_prompt_tokens=chunk.usage.cached_prompt_tokens,
                        requests=1,
                    )
                )
        return "".join(parts).strip()


_INSTRUCTION_WORDS = frozenset(
    re.findall(r"[a-z]+", SMS_SUMMARY_SYSTEM_TPL.split("\n\n", 1)[0].lower())
) - {"the", "to", "in", "and", "of", "a", "from", "their", "them", "with"}


_BUILT_IN: dict[PostCallPromptName, str] = {
    "synthesis": SYNTHESIS_SYSTEM_TPL,
    "next": NEXT_SYSTEM_TPL,
    "sms": SMS_SUMMARY_SYSTEM_TPL,
}


def _template(call: CallState, name: PostCallPromptName) -> str:
    """The call's override (`prompts` in the settings or `POST /call`, its placeholders checked
    there), else the built-in prompt."""
    return call.initiate.prompts.get(name) or _BUILT_IN[name]


def _from_facts(call: CallState) -> PostCallResult:
    next_action = next_from_facts(call)
    return PostCallResult(
        synthesis=synthesis_from_facts(call),
        next=next_action,
        sms_summary=sms_from_facts(call, next_action),
    )


def _usable_synthesis(synthesis: Synthesis) -> bool:
    """Not a refusal copied into the customer file (what a weak model writes)."""
    return usable_text(synthesis.long) and usable_text(synthesis.short)


def _repeats_instructions(text: str) -> bool:
    """A small model sometimes answers with the instructions themselves: never text those."""
    words = re.findall(r"[a-z]+", text.lower())
    hits = sum(w in _INSTRUCTION_WORDS for w in words)
    return len(words) >= 6 and hits / len(words) > 0.5


def _json_object(text: str) -> Any:
    """The JSON object in a model's answer (code fences and text around it tolerated)."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("the answer contains no JSON object")
    candidate = text[start : end + 1]
    try:
        return json.loads(candidate)
    except json.JSONDecodeError:
        repaired = json_repair.loads(candidate)
        if not isinstance(repaired, dict):
            raise ValueError("the answer's JSON is not an object") from None
        return repaired
