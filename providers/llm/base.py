"""The streaming chat-model interface and the three errors the LLM activity acts on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

RETRYABLE_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of one tool call; fragments with the same `index` are concatenated."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """The token counts of a whole completion (the stream's last, choice-less chunk)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ChatChunk:
    """One streamed piece of an answer."""

    text: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = ()
    finish_reason: str | None = None
    usage: TokenUsage | None = None


class LlmError(Exception):
    """Base of the errors a `ChatModel` raises."""


class LlmRetryableError(LlmError):
    """Connection error, timeout, 408/409/429/5xx: the same or another model may succeed."""


class LlmContentFiltered(LlmError):
    """The provider's content filter refused the prompt (Azure: 400 `content_filter`)."""


class LlmFatalError(LlmError):
    """Any other 4xx: the request itself is wrong (key, model, payload); retrying is useless."""


class ChatModel(Protocol):
    """A chat model that streams an answer; errors are mapped to the `LlmError` classes."""

    name: str

    def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        *,
        user: str,
        max_tokens: int,
        json_schema: dict[str, Any] | None = None,
    ) -> AsyncIterator[ChatChunk]:
        """Stream the answer; `tools=None` sends no tools at all.

        `json_schema` asks for a JSON answer following that schema (`response_format`); a
        llama.cpp server enforces it with a grammar, so a small model cannot break the shape.
        """
        ...


def error_for_status(status: int, code: str | None, message: str) -> LlmError:
    """Map an HTTP error status (and the provider's error code) to an `LlmError`."""
    text = f"HTTP {status}" + (f" ({code})" if code else "") + f": {message}"
    if code == "content_filter" and 400 <= status < 500:
        return LlmContentFiltered(text)
    if status in RETRYABLE_STATUSES or status >= 500:
        return LlmRetryableError(text)
    return LlmFatalError(text)
