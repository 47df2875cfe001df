"""`ChatModel` over the OpenAI or Azure OpenAI chat-completions API (and compatible servers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI, omit
from openai.types.chat import ChatCompletionChunk

from core import tracing
from core.settings import LlmModelSettings
from providers.llm.base import (
    ChatChunk,
    LlmContentFiltered,
    LlmError,
    LlmRetryableError,
    TokenUsage,
    ToolCallDelta,
    error_for_status,
)


class OpenAiChat:
    """Streams completions with the official SDK; retries are left to the caller."""

    def __init__(self, settings: LlmModelSettings) -> None:
        self.name = settings.model
        self._settings = settings
        self._client = _client(settings)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()

    async def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        *,
        user: str,
        max_tokens: int,
        json_schema: dict[str, Any] | None = None,
    ) -> AsyncIterator[ChatChunk]:
        """Stream one completion as `ChatChunk`s; errors become `LlmError`s."""
        settings = self._settings
        body: dict[str, Any] = {"messages": messages}
        if tools:  # omitted, never `[]`: some servers reject an empty list (bug #399)
            body["tools"] = tools
        if json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": json_schema.get("title", "answer"), "schema": json_schema},
            }
        # Not the current span: an async generator may be closed in another context.
        span = tracing.TRACER.start_span("llm.completion", attributes={"llm.model": settings.model})
        try:
            response = await self._client.chat.completions.create(
                model=settings.model,
                # Plain JSON already: `extra_body` skips the SDK's recursive TypedDict
                # transform of messages and tool schemas (measured: ~3 ms of every turn).
                messages=[],
                extra_body=body,
                temperature=settings.temperature,
                seed=settings.seed if settings.seed is not None else omit,
                max_tokens=max_tokens,
                user=user,
                stream=True,
                # The last chunk then carries the token counts (the call's usage and cost).
                stream_options={"include_usage": True},
                extra_headers=tracing.headers_for(span),  # the server's spans join the turn's
            )
            first = True
            async with response:
                async for chunk in response:
                    converted = _convert(chunk)
                    if converted is None:
                        continue
                    if first and (converted.text or converted.tool_calls):
                        first = False  # the prompt is processed: the turn's breakdown shows it
                        span.add_event("llm.first_token")
                    yield converted
        except openai.APIStatusError as exc:
            raise error_for_status(exc.status_code, exc.code, exc.message) from exc
        except openai.APIConnectionError as exc:
            raise LlmRetryableError(f"{type(exc).__name__}: {exc}") from exc
        except openai.APIError as exc:
            # An error event inside the stream: the HTTP status was already 200.
            raise _stream_error(exc) from exc
        except (OSError, TimeoutError) as exc:
            raise LlmRetryableError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            span.end()


def _client(settings: LlmModelSettings) -> AsyncOpenAI:
    key = settings.api_key.get_secret_value()
    # max_retries=0: the activity decides between retrying and falling back to the other model.
    if settings.kind == "azure":
        return AsyncAzureOpenAI(
            azure_endpoint=settings.endpoint,
            api_version=settings.api_version,
            api_key=key,
            timeout=settings.request_timeout_sec,
            max_retries=0,
        )
    return AsyncOpenAI(
        base_url=settings.endpoint,
        api_key=key,
        timeout=settings.request_timeout_sec,
        max_retries=0,
    )


def _convert(chunk: ChatCompletionChunk) -> ChatChunk | None:
    if not chunk.choices:  # the usage chunk
        return None if chunk.usage is None else ChatChunk(usage=_tokens(chunk))
    choice = chunk.choices[0]
    deltas = tuple(
        ToolCallDelta(
            index=call.index,
            id=call.id,
            name=call.function.name if call.function else None,
            arguments=(call.function.arguments or "") if call.function else "",
        )
        for call in choice.delta.tool_calls or []
    )
    return ChatChunk(
        text=choice.delta.content or "",
        tool_calls=deltas,
        finish_reason=choice.finish_reason,
        usage=_tokens(chunk),  # some servers (llama.cpp) count on the last choice's chunk
    )


def _tokens(chunk: ChatCompletionChunk) -> TokenUsage | None:
    usage = chunk.usage
    if usage is None:
        return None
    details = usage.prompt_tokens_details
    return TokenUsage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cached_prompt_tokens=(details.cached_tokens or 0) if details is not None else 0,
    )


def _stream_error(exc: openai.APIError) -> LlmError:
    if exc.code == "content_filter":
        return LlmContentFiltered(exc.message)
    return LlmRetryableError(f"stream error ({exc.code}): {exc.message}")
