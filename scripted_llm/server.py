"""aiohttp app speaking the OpenAI / Azure OpenAI chat-completions wire format from a script."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from scripted_llm.script import (
    RecordedRequest,
    Script,
    ScriptedReply,
    ScriptState,
    last_user_text,
)

STATE_KEY = web.AppKey("scripted_llm_state", ScriptState)

_SECRET_HEADERS = {"authorization", "api-key", "cookie"}

CONTENT_FILTER_MESSAGE = (
    "The response was filtered due to the prompt triggering Azure OpenAI's content management "
    "policy. Please modify your prompt and retry. To learn more about our content filtering "
    "policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766"
)
_SAFE = {"filtered": False, "severity": "safe"}


def create_app(state: ScriptState | None = None) -> web.Application:
    """Build the app; pass ``state`` to share it with in-process tests."""
    app = web.Application()
    app[STATE_KEY] = state if state is not None else ScriptState()
    app.router.add_post("/v1/chat/completions", _chat_completions)
    app.router.add_post("/openai/deployments/{model}/chat/completions", _chat_completions)
    app.router.add_post("/_script", _script)
    app.router.add_post("/_reset", _reset)
    app.router.add_get("/_requests", _requests)
    app.router.add_get("/_health", _health)
    app.router.add_get("/v1/models", _models)  # what OpenAI clients (and readiness checks) list
    return app


def _error(status: int, message: str, code: str | None, err_type: str) -> web.Response:
    body = {"error": {"message": message, "type": err_type, "param": None, "code": code}}
    return web.json_response(body, status=status)


def _content_filter_body() -> dict[str, Any]:
    categories = ("hate", "self_harm", "sexual", "violence")
    result: dict[str, Any] = {c: dict(_SAFE) for c in categories}
    result["jailbreak"] = {"filtered": True, "detected": True}
    return {
        "error": {
            "code": "content_filter",
            "message": CONTENT_FILTER_MESSAGE,
            "param": "prompt",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": result,
            },
        }
    }


def _error_reply(reply: ScriptedReply) -> web.Response:
    status = reply.status if reply.status >= 400 else 400
    if reply.error_code == "content_filter":
        return web.json_response(_content_filter_body(), status=status)
    err_type = "server_error" if status >= 500 else "invalid_request_error"
    message = f"Scripted error {status}" + (f" ({reply.error_code})" if reply.error_code else "")
    return _error(status, message, reply.error_code, err_type)


def _usage(messages: list[dict[str, Any]], reply: ScriptedReply) -> dict[str, int]:
    # Rough 4-chars-per-token estimate: callers only need plausible, non-zero numbers.
    prompt = max(1, len(json.dumps(messages)) // 4)
    completion = max(
        1, (len(reply.text) + sum(len(t.arguments_json()) for t in reply.tool_calls)) // 4
    )
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def _has_api_key(request: web.Request) -> bool:
    bearer = request.headers.get("Authorization", "")
    has_bearer = bearer.startswith("Bearer ") and bool(bearer.removeprefix("Bearer ").strip())
    return has_bearer or bool(request.headers.get("api-key"))


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    # Taken before the body is read: aiohttp calls the handler once the request line and
    # headers are parsed, which is what the latency benchmark wants to measure.
    received_at = time.time()
    state = request.app[STATE_KEY]
    if not _has_api_key(request):
        return _error(
            401,
            "You didn't provide an API key. Provide it in an Authorization: Bearer header.",
            "invalid_api_key",
            "invalid_request_error",
        )
    try:
        body: dict[str, Any] = await request.json()
    except json.JSONDecodeError:
        return _error(400, "Request body is not valid JSON.", None, "invalid_request_error")
    model = request.match_info.get("model") or body.get("model")
    user = body.get("user") or body.get("safety_identifier")
    messages: list[dict[str, Any]] = body.get("messages") or []
    reply = state.next_reply(user, last_user_text(messages), model)
    # Resolve generated ids once so the log and the wire agree.
    tool_calls = [
        t if t.id is not None else t.model_copy(update={"id": state.new_tool_call_id()})
        for t in reply.tool_calls
    ]
    reply = reply.model_copy(update={"tool_calls": tool_calls})
    stream = bool(body.get("stream"))
    state.record(
        RecordedRequest(
            received_at=received_at,
            path=request.path,
            model=model,
            user=user,
            stream=stream,
            messages=messages,
            tools=body.get("tools"),
            tool_choice=body.get("tool_choice"),
            max_tokens=body.get("max_tokens") or body.get("max_completion_tokens"),
            temperature=body.get("temperature"),
            headers={
                k.lower(): v for k, v in request.headers.items() if k.lower() not in _SECRET_HEADERS
            },
            reply=reply,
        )
    )
    if reply.delay_s:
        await asyncio.sleep(reply.delay_s)
    if reply.is_error:
        return _error_reply(reply)
    completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    if not stream:
        return web.json_response(_completion(completion_id, model, messages, reply))
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    return await _stream(request, completion_id, model, messages, reply, include_usage)


def _completion(
    completion_id: str, model: str | None, messages: list[dict[str, Any]], reply: ScriptedReply
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.text if reply.text or not reply.tool_calls else None,
        "refusal": None,
    }
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": t.id,
                "type": "function",
                "function": {"name": t.name, "arguments": t.arguments_json()},
            }
            for t in reply.tool_calls
        ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": reply.effective_finish_reason,
            }
        ],
        "usage": _usage(messages, reply),
    }


def _deltas(reply: ScriptedReply) -> list[dict[str, Any]]:
    """The sequence of ``delta`` objects a real stream would carry (finish chunk excluded)."""
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": "", "refusal": None}]
    deltas += [{"content": piece} for piece in _split(reply.text, reply.chunk_chars)]
    for index, call in enumerate(reply.tool_calls):
        function = {"name": call.name, "arguments": ""}
        head = {"index": index, "id": call.id, "type": "function", "function": function}
        deltas.append({"tool_calls": [head]})
        args = call.arguments_json()
        # At least two fragments, so clients must really concatenate argument deltas.
        size = min(reply.chunk_chars, max(1, (len(args) + 1) // 2))
        for piece in _split(args, size):
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    return deltas


async def _stream(
    request: web.Request,
    completion_id: str,
    model: str | None,
    messages: list[dict[str, Any]],
    reply: ScriptedReply,
    include_usage: bool,
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    base = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
    }
    if include_usage:
        base["usage"] = None

    def choice(delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}

    chunks = [{**base, "choices": [choice(d, None)]} for d in _deltas(reply)]
    chunks.append({**base, "choices": [choice({}, reply.effective_finish_reason)]})
    if include_usage:
        chunks.append({**base, "choices": [], "usage": _usage(messages, reply)})
    try:
        for i, chunk in enumerate(chunks):
            if i and reply.chunk_delay_s:
                await asyncio.sleep(reply.chunk_delay_s)
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
    except ConnectionResetError:
        # The client hung up mid-stream (barge-in cancels generation); nothing left to do.
        pass
    return response


async def _script(request: web.Request) -> web.Response:
    try:
        script = Script.model_validate_json(await request.read())
    except ValidationError as exc:
        return web.json_response({"error": exc.errors(include_url=False)}, status=400)
    state = request.app[STATE_KEY]
    state.apply(script)
    return web.json_response({"queued": len(script.replies), "pending": len(state.pending())})


async def _reset(request: web.Request) -> web.Response:
    """Everything, or with `?what=requests` only the request log (queued replies stay)."""
    if request.query.get("what") == "requests":
        request.app[STATE_KEY].clear_requests()
    else:
        request.app[STATE_KEY].reset()
    return web.json_response({"ok": True})


async def _requests(request: web.Request) -> web.Response:
    found = request.app[STATE_KEY].requests(request.query.get("user"))
    return web.json_response([r.model_dump(mode="json") for r in found])


async def _models(request: web.Request) -> web.Response:
    del request
    model = {"id": "scripted", "object": "model", "created": 0, "owned_by": "callcenter"}
    return web.json_response({"object": "list", "data": [model]})


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "pending": len(request.app[STATE_KEY].pending())})
