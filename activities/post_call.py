"""After the call: synthesis, next action and the SMS summary, from the slow model.

Each answer is validated against its JSON schema; an invalid one goes back to the model with
the validation error, up to `attempts` times (as the reference does). The three run at once.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any, TypeVar

import json_repair
from pydantic import BaseModel, ValidationError
from temporalio import activity

from domain.call import Next, Synthesis
from domain.contracts import PostCallInput, PostCallResult
from domain.prompts import (
    NEXT_SYSTEM_TPL,
    SMS_SUMMARY_SYSTEM_TPL,
    SYNTHESIS_SYSTEM_TPL,
    VALIDATION_RETRY,
    post_call_context,
)
from providers.llm.base import ChatModel, LlmError

_M = TypeVar("_M", bound=BaseModel)
MAX_TOKENS = 1_000
SMS_MAX_CHARS = 320


class InvalidAnswer(ValueError):
    """The model did not produce a valid answer within the attempts."""


class PostCallActivities:
    def __init__(self, model: ChatModel, *, attempts: int = 3, json_schema: bool = False) -> None:
        """`json_schema`: ask the server to enforce each answer's schema (small local models)."""
        self._model = model
        self._attempts = attempts
        self._json_schema = json_schema

    @activity.defn(name="post_call")
    async def post_call(self, input: PostCallInput) -> PostCallResult:
        context = post_call_context(input.call, datetime.now(UTC))
        user = input.call.call_id
        synthesis, next_action, sms = await asyncio.gather(
            self._structured(SYNTHESIS_SYSTEM_TPL, Synthesis, context, user),
            self._structured(NEXT_SYSTEM_TPL, Next, context, user),
            self._sms(context, user),
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
        return PostCallResult(
            synthesis=synthesis if isinstance(synthesis, Synthesis) else None,
            next=next_action if isinstance(next_action, Next) else None,
            sms_summary=sms if isinstance(sms, str) else None,
            errors=errors,
        )

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

    async def _sms(self, context: dict[str, str], user: str) -> str:
        messages = [
            {"role": "system", "content": SMS_SUMMARY_SYSTEM_TPL.format(**context)},
            {"role": "user", "content": "Write the message now."},
        ]
        for _ in range(self._attempts):
            text = " ".join((await self._complete(messages, user)).split())
            if text and not _repeats_instructions(text):
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
        return "".join(parts).strip()


_INSTRUCTION_WORDS = frozenset(
    re.findall(r"[a-z]+", SMS_SUMMARY_SYSTEM_TPL.split("\n\n", 1)[0].lower())
) - {"the", "to", "in", "and", "of", "a", "from", "their", "them", "with"}


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
