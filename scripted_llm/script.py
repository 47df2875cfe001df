"""Script models and the in-memory state shared by the scripted LLM server and tests."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

from pydantic import BaseModel, Field

GENERIC_DEFAULT_TEXT = "I understand. Could you tell me more?"


class Match(BaseModel):
    """Which requests a queued reply may answer; unset fields match anything."""

    user: str | None = None
    last_user_contains: str | None = None
    model: str | None = None

    def fits(self, user: str | None, last_user: str, model: str | None) -> bool:
        """Return True when every set field agrees with the request."""
        if self.user is not None and self.user != user:
            return False
        if self.model is not None and self.model != model:
            return False
        needle = self.last_user_contains
        return needle is None or needle.lower() in last_user.lower()


class ScriptedToolCall(BaseModel):
    """One tool call the model "decides" to make."""

    name: str
    arguments: dict[str, Any] | str = Field(default_factory=dict)
    # None -> a generated ``call_<n>``; "" is kept to reproduce providers sending empty ids.
    id: str | None = None

    def arguments_json(self) -> str:
        """Arguments as the JSON string the API transmits."""
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


class ScriptedReply(BaseModel):
    """One scripted model answer (or error)."""

    text: str = ""
    tool_calls: list[ScriptedToolCall] = Field(default_factory=list)
    finish_reason: str | None = None
    delay_s: float = Field(default=0.0, ge=0)
    chunk_delay_s: float = Field(default=0.0, ge=0)
    chunk_chars: int = Field(default=8, ge=1)
    status: int = 200
    error_code: str | None = None
    match: Match | None = None

    @property
    def effective_finish_reason(self) -> str:
        """The finish_reason sent to the client."""
        if self.finish_reason is not None:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"

    @property
    def is_error(self) -> bool:
        """True when this reply is an HTTP error instead of a completion."""
        return self.status >= 400 or self.error_code is not None


class Script(BaseModel):
    """Body of ``POST /_script`` and of the ``--script`` file."""

    replies: list[ScriptedReply] = Field(default_factory=list)
    default: ScriptedReply | None = None
    user: str | None = None


class RecordedRequest(BaseModel):
    """A chat-completions request as the server received it."""

    received_at: float
    path: str
    model: str | None = None
    user: str | None = None
    stream: bool = False
    messages: list[dict[str, Any]] = Field(default_factory=list)
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    max_tokens: int | None = None
    temperature: float | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    reply: ScriptedReply | None = None

    @property
    def last_user_text(self) -> str:
        """Text of the last user-role message ("" when there is none)."""
        return last_user_text(self.messages)


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """Text of the last user message, flattening content-part lists."""
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            parts = [p.get("text", "") for p in content if isinstance(p, dict)]
            return " ".join(p for p in parts if isinstance(p, str))
        return ""
    return ""


class ScriptState:
    """Reply queue, defaults and request log; safe to use directly from in-process tests."""

    def __init__(self) -> None:
        self._queue: list[ScriptedReply] = []
        self._defaults: dict[str, ScriptedReply] = {}
        self._default: ScriptedReply | None = None
        self._requests: list[RecordedRequest] = []
        # Never reset, so generated tool-call ids stay unique for the server's lifetime.
        self._ids = itertools.count(1)

    def add(
        self,
        *replies: ScriptedReply,
        user: str | None = None,
        default: ScriptedReply | None = None,
    ) -> None:
        """Queue replies; ``user`` scopes unmatched replies (and ``default``) to one call."""
        for reply in replies:
            if user is not None and reply.match is None:
                reply = reply.model_copy(update={"match": Match(user=user)})
            self._queue.append(reply)
        if default is not None:
            self.set_default(default, user=user)

    def apply(self, script: Script) -> None:
        """Apply a ``POST /_script`` body."""
        self.add(*script.replies, user=script.user, default=script.default)

    def set_default(self, reply: ScriptedReply, user: str | None = None) -> None:
        """Set the fallback reply for one call, or for all calls when ``user`` is None."""
        if user is None:
            self._default = reply
        else:
            self._defaults[user] = reply

    def reset(self) -> None:
        """Drop queued replies, defaults and recorded requests."""
        self._queue.clear()
        self._defaults.clear()
        self._default = None
        self._requests.clear()

    def clear_requests(self) -> None:
        """Drop the recorded requests only (a long benchmark bounds the log's memory)."""
        self._requests.clear()

    def pending(self, user: str | None = None) -> list[ScriptedReply]:
        """Queued replies not consumed yet (optionally only those scoped to ``user``)."""
        if user is None:
            return list(self._queue)
        return [r for r in self._queue if r.match is not None and r.match.user == user]

    def next_reply(self, user: str | None, last_user: str, model: str | None) -> ScriptedReply:
        """Pop the first queued reply that fits, else the per-call / global / generic default."""
        for i, reply in enumerate(self._queue):
            if reply.match is None or reply.match.fits(user, last_user, model):
                return self._queue.pop(i)
        if user is not None and user in self._defaults:
            return self._defaults[user]
        return self._default or ScriptedReply(text=GENERIC_DEFAULT_TEXT)

    def new_tool_call_id(self) -> str:
        """A fresh ``call_<n>`` id."""
        return f"call_{next(self._ids)}"

    def record(self, request: RecordedRequest) -> None:
        """Append a request to the log."""
        self._requests.append(request)

    def requests(self, user: str | None = None) -> list[RecordedRequest]:
        """Recorded requests in arrival order, optionally only one call's."""
        return [r for r in self._requests if user is None or r.user == user]

    async def wait_for_requests(
        self, count: int = 1, user: str | None = None, timeout_s: float = 10.0
    ) -> list[RecordedRequest]:
        """Wait until at least ``count`` requests (for ``user``) were recorded."""
        deadline = time.monotonic() + timeout_s
        while len(found := self.requests(user)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"saw {len(found)}/{count} LLM requests for user={user!r}")
            await asyncio.sleep(0.01)
        return found
