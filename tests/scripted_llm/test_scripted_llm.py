"""The scripted LLM, driven over real HTTP by the real openai SDK."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncAzureOpenAI, AsyncOpenAI

# Submodule imports: the editable install may expose top-level packages as namespace packages.
from scripted_llm.runner import ScriptedLlmServer
from scripted_llm.script import GENERIC_DEFAULT_TEXT, Match, ScriptedReply, ScriptedToolCall

MESSAGES: Any = [
    {"role": "system", "content": "You are a phone agent."},
    {"role": "user", "content": "Hi, I want to BOOK an appointment."},
]
TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "book",
            "description": "Book a slot",
            "parameters": {"type": "object", "properties": {"day": {"type": "string"}}},
        },
    }
]


@pytest.fixture(scope="module")
async def llm() -> AsyncIterator[ScriptedLlmServer]:
    async with ScriptedLlmServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(llm: ScriptedLlmServer) -> None:
    llm.state.reset()


@pytest.fixture
async def client(llm: ScriptedLlmServer) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=llm.base_url, api_key="test-key", max_retries=0) as c:
        yield c


@pytest.fixture
async def azure(llm: ScriptedLlmServer) -> AsyncIterator[AsyncAzureOpenAI]:
    async with AsyncAzureOpenAI(
        azure_endpoint=llm.azure_endpoint,
        api_version="2024-10-21",
        api_key="azure-key",
        max_retries=0,
    ) as c:
        yield c


async def _collect(
    client: AsyncOpenAI, user: str = "call-1", **kwargs: Any
) -> tuple[str, dict[int, dict[str, str]], list[str | None], list[Any]]:
    """Stream a completion; return text, tool calls accumulated by index, finish reasons, chunks."""
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, user=user, stream=True, **kwargs
    )
    text, finishes, chunks = "", [], []
    calls: dict[int, dict[str, str]] = {}
    async for chunk in stream:
        chunks.append(chunk)
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finishes.append(choice.finish_reason)
            for tc in choice.delta.tool_calls or []:
                call = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += tc.id or ""
                if tc.function is not None:
                    call["name"] += tc.function.name or ""
                    call["arguments"] += tc.function.arguments or ""
    return text, calls, [f for f in finishes if f is not None], chunks


async def test_streamed_text_reassembles(llm: ScriptedLlmServer, client: AsyncOpenAI) -> None:
    text = "Sure — I can help you book that. Which day works best for you?"
    llm.state.add(ScriptedReply(text=text, chunk_chars=5))
    got, calls, finishes, chunks = await _collect(client)
    assert got == text
    assert calls == {}
    assert finishes == ["stop"]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len(chunks) >= len(text) // 5 + 2  # role chunk + content chunks + finish chunk
    assert all(c.object == "chat.completion.chunk" for c in chunks)


async def test_streamed_tool_calls_reassemble(llm: ScriptedLlmServer, client: AsyncOpenAI) -> None:
    llm.state.add(
        ScriptedReply(
            text="One moment.",
            tool_calls=[
                ScriptedToolCall(name="book", arguments={"day": "Tuesday", "time": "10:00"}),
                ScriptedToolCall(name="lookup", arguments='{"q": "x"}', id="call_fixed"),
                ScriptedToolCall(name="hangup", arguments={}, id=""),
            ],
        )
    )
    text, calls, finishes, chunks = await _collect(client, tools=TOOLS)
    assert text == "One moment."
    assert finishes == ["tool_calls"]
    assert calls[0]["name"] == "book"
    assert json.loads(calls[0]["arguments"]) == {"day": "Tuesday", "time": "10:00"}
    assert calls[0]["id"].startswith("call_")
    assert calls[1] == {"id": "call_fixed", "name": "lookup", "arguments": '{"q": "x"}'}
    assert calls[2] == {"id": "", "name": "hangup", "arguments": "{}"}
    # Real incremental format: arguments arrive in >= 2 fragments after a header delta.
    fragments = [
        tc for c in chunks for ch in c.choices for tc in ch.delta.tool_calls or [] if tc.index == 2
    ]
    assert fragments[0].type == "function" and fragments[0].function.arguments == ""
    assert len(fragments) >= 3 and all(f.id is None for f in fragments[1:])
    # The generated id is also what the log recorded.
    recorded = llm.state.requests(user="call-1")[0]
    assert recorded.reply is not None and recorded.reply.tool_calls[0].id == calls[0]["id"]


async def test_non_stream_json(llm: ScriptedLlmServer, client: AsyncOpenAI) -> None:
    llm.state.add(ScriptedReply(text="Hello there."))
    llm.state.add(ScriptedReply(tool_calls=[ScriptedToolCall(name="book", arguments={"d": 1})]))
    first = await client.chat.completions.create(model="m", messages=MESSAGES, user="c")
    assert first.object == "chat.completion"
    assert first.choices[0].message.content == "Hello there."
    assert first.choices[0].finish_reason == "stop"
    assert first.usage is not None and first.usage.total_tokens > 0
    second = await client.chat.completions.create(model="m", messages=MESSAGES, user="c")
    message = second.choices[0].message
    assert message.content is None and second.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None
    call = message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "book" and json.loads(call.function.arguments) == {"d": 1}


async def test_azure_client_streams_and_records_deployment(
    llm: ScriptedLlmServer, azure: AsyncAzureOpenAI
) -> None:
    llm.state.add(ScriptedReply(text="Azure says hi.", match=Match(model="gpt4o-deploy")))
    stream = await azure.chat.completions.create(
        model="gpt4o-deploy", messages=MESSAGES, user="az-1", stream=True
    )
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "Azure says hi."
    (req,) = llm.state.requests(user="az-1")
    assert req.path == "/openai/deployments/gpt4o-deploy/chat/completions"
    assert req.model == "gpt4o-deploy"


async def test_match_by_user_and_last_user_text(
    llm: ScriptedLlmServer, client: AsyncOpenAI
) -> None:
    llm.state.add(ScriptedReply(text="for B"), user="call-B")
    llm.state.add(ScriptedReply(text="for A"), user="call-A")
    llm.state.add(ScriptedReply(text="booking!", match=Match(last_user_contains="book an")))
    # First fitting reply wins: call-B's is skipped, and "for A" is ahead of the catch-all.
    assert (await _collect(client, user="call-A"))[0] == "for A"
    # Case-insensitive substring of the last user message.
    assert (await _collect(client, user="call-C"))[0] == "booking!"
    assert (await _collect(client, user="call-B"))[0] == "for B"
    assert llm.state.pending() == []
    llm.state.add(ScriptedReply(text="cancelled", match=Match(last_user_contains="cancel")))
    assert (await _collect(client, user="call-A"))[0] == GENERIC_DEFAULT_TEXT
    assert len(llm.state.pending()) == 1


async def test_fifo_then_default(llm: ScriptedLlmServer, client: AsyncOpenAI) -> None:
    llm.state.add(
        ScriptedReply(text="one"),
        ScriptedReply(text="two"),
        user="call-F",
        default=ScriptedReply(text="call default"),
    )
    got = [(await _collect(client, user="call-F"))[0] for _ in range(4)]
    assert got == ["one", "two", "call default", "call default"]
    assert (await _collect(client, user="someone-else"))[0] == GENERIC_DEFAULT_TEXT


async def test_control_api(llm: ScriptedLlmServer, client: AsyncOpenAI) -> None:
    async with httpx.AsyncClient(base_url=llm.url) as http:
        assert (await http.get("/_health")).json()["ok"] is True
        body = {"replies": [{"text": "scripted over http"}], "default": None, "user": "call-H"}
        assert (await http.post("/_script", json=body)).json()["queued"] == 1
        assert (await http.post("/_script", json={"replies": [{"chunk_chars": 0}]})).is_error
        assert (await _collect(client, user="call-H"))[0] == "scripted over http"
        requests = (await http.get("/_requests", params={"user": "call-H"})).json()
        assert len(requests) == 1 and requests[0]["messages"] == MESSAGES
        # Clearing only the log keeps what is queued (a long benchmark's end-of-call replies).
        await http.post("/_script", json={"replies": [{"text": "kept"}], "user": "call-H"})
        await http.post("/_reset", params={"what": "requests"})
        assert (await http.get("/_requests")).json() == []
        assert (await _collect(client, user="call-H"))[0] == "kept"
        await http.post("/_script", json={"replies": [{"text": "dropped"}], "user": "call-H"})
        await http.post("/_reset")
        assert (await http.get("/_requests")).json() == []
        assert (await _collect(client, user="call-H"))[0] == GENERIC_DEFAULT_TEXT


async def test_delay_is_measurable(llm: ScriptedLlmServer, client: AsyncOpenAI) -> None:
    llm.state.add(ScriptedReply(text="slow", delay_s=0.3, chunk_delay_s=0.05, chunk_chars=2))
    start = time.perf_counter()
    text, *_ = await _collect(client)
    assert text == "slow"
    # 0.3 s before the first byte + 3 gaps of 0.05 s between the 4 chunks.
    assert time.perf_counter() - start >= 0.4
    (req,) = llm.state.requests()
    assert abs(req.received_at - time.time()) < 5


async def test_client_hangup_mid_stream(llm: ScriptedLlmServer, client: AsyncOpenAI) -> None:
    llm.state.add(ScriptedReply(text="a long answer " * 20, chunk_chars=4, chunk_delay_s=0.02))
    stream = await client.chat.completions.create(
        model="m", messages=MESSAGES, user="u", stream=True
    )
    async for _ in stream:
        break
    await stream.close()  # barge-in: the caller cancels generation
    assert (await _collect(client))[0] == GENERIC_DEFAULT_TEXT


async def test_server_error(llm: ScriptedLlmServer, client: AsyncOpenAI) -> None:
    llm.state.add(ScriptedReply(status=500))
    with pytest.raises(openai.InternalServerError):
        await _collect(client)


async def test_content_filter_error(llm: ScriptedLlmServer, azure: AsyncAzureOpenAI) -> None:
    llm.state.add(ScriptedReply(error_code="content_filter"))
    with pytest.raises(openai.BadRequestError) as info:
        await azure.chat.completions.create(model="d", messages=MESSAGES, user="u", stream=True)
    assert info.value.status_code == 400
    assert info.value.code == "content_filter"
    body = info.value.body
    assert isinstance(body, dict)
    assert body["innererror"]["code"] == "ResponsibleAIPolicyViolation"


@pytest.mark.parametrize("reason", ["content_filter", "length"])
async def test_streamed_finish_reasons(
    llm: ScriptedLlmServer, client: AsyncOpenAI, reason: str
) -> None:
    llm.state.add(ScriptedReply(text="partial answer that got cut", finish_reason=reason))
    text, _, finishes, _ = await _collect(client)
    assert text == "partial answer that got cut"
    assert finishes == [reason]


async def test_usage_chunk_only_when_requested(llm: ScriptedLlmServer, client: AsyncOpenAI) -> None:
    *_, plain = await _collect(client)
    assert all(c.usage is None for c in plain)
    *_, with_usage = await _collect(client, stream_options={"include_usage": True})
    assert with_usage[-1].choices == [] and with_usage[-1].usage is not None
    assert with_usage[-1].usage.prompt_tokens > 0


async def test_requests_are_recorded(llm: ScriptedLlmServer, client: AsyncOpenAI) -> None:
    await _collect(
        client, user="call-R", tools=TOOLS, tool_choice="auto", max_tokens=50, temperature=0.2
    )
    (req,) = await llm.state.wait_for_requests(1, user="call-R")
    assert req.messages == MESSAGES and req.tools == TOOLS
    assert req.user == "call-R" and req.stream is True and req.model == "gpt-4o-mini"
    assert req.tool_choice == "auto" and req.max_tokens == 50 and req.temperature == 0.2
    assert req.path == "/v1/chat/completions"
    assert req.last_user_text.startswith("Hi, I want")
    assert "authorization" not in req.headers and "user-agent" in req.headers


async def test_missing_api_key_is_401(llm: ScriptedLlmServer) -> None:
    async with httpx.AsyncClient() as http:
        resp = await http.post(f"{llm.base_url}/chat/completions", json={"messages": MESSAGES})
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "invalid_api_key"
    assert llm.state.requests() == []


async def test_lists_its_model_like_an_openai_server(
    llm: ScriptedLlmServer, client: AsyncOpenAI
) -> None:
    models = [m.id async for m in client.models.list()]
    assert models == ["scripted"]
