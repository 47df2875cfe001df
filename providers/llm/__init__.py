"""Chat models the LLM activity streams from."""

from providers.llm.base import (
    ChatChunk,
    ChatModel,
    LlmContentFiltered,
    LlmError,
    LlmFatalError,
    LlmRetryableError,
    ToolCallDelta,
    error_for_status,
)
from providers.llm.openai_chat import OpenAiChat

__all__ = [
    "ChatChunk",
    "ChatModel",
    "LlmContentFiltered",
    "LlmError",
    "LlmFatalError",
    "LlmRetryableError",
    "OpenAiChat",
    "ToolCallDelta",
    "error_for_status",
]
