"""Activity `llm_turn` over real HTTP (scripted OpenAI-compatible server) and a real Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from redis.asyncio import Redis
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

import scripted_llm.runner
from activities.llm import LlmActivities
from activities.speech import SpeechActivities
from core.settings import LlmModelSettings, LlmSettings
from domain.call import CallInitiate, CallState, Message, Persona, Style
from domain.contracts import (
    FILLER_INDEX,
    LlmTurnInput,
    LlmTurnResult,
    SentenceEvent,
    SpeakInput,
)
from domain.flags import FeatureFlags
from domain.prompts import phrase
from providers.llm.base import (
    ChatChunk,
    LlmContentFiltered,
    LlmFatalError,
    LlmRetryableError,
    ToolCallDelta,
    error_for_status,
)
from providers.llm.openai_chat import OpenAiChat
from providers.sentences.redis_stream import RedisSentenceStream
from scripted_llm.runner import ScriptedLlmServer
from scripted_llm.script import Match, ScriptedReply, ScriptedToolCall
from scripted_llm.server import create_app

CLAIM = {"updates": [{"field": "policyholder_name", "value": "Ann Smith"}]}
Bodies = dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def bodies() -> Bodies:
    """Raw JSON request bodies per `user`, to see which keys were really sent."""
    return {}


@pytest.fixture(scope="module")
async def llm(bodies: Bodies) -> AsyncIterator[ScriptedLlmServer]:
    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.endswith("/chat/completions"):
            body = await request.json()  # aiohttp caches the body for the handler
            bodies.setdefault(body.get("user", ""), []).append(body)
        response: web.StreamResponse = await handler(request)
        return response

    def app_with_recorder(state: Any) -> web.Application:
        app = create_app(state)
        app.middlewares.append(record)
        return app

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scripted_llm.runner, "create_app", app_with_recorder)
        async with ScriptedLlmServer() as server:
            yield server


@pytest.fixture(autouse=True)
def _clean(llm: ScriptedLlmServer) -> None:
    llm.state.reset()


@pytest.fixture
def sentences(redis: Redis) -> RedisSentenceStream:
    return RedisSentenceStream(redis)


MakeActivities = Callable[..., Awaitable[LlmActivities]]


@pytest.fixture
async def make_activities(
    llm: ScriptedLlmServer, sentences: RedisSentenceStream
) -> AsyncIterator[MakeActivities]:
    models: list[OpenAiChat] = []

    async def make(kind: str = "openai", attempts: int = 2, **fast: Any) -> LlmActivities:
        endpoint = llm.azure_endpoint if kind == "azure" else llm.base_url
        base = {"kind": kind, "endpoint": endpoint, "api_key": "test", "request_timeout_sec": 5}
        settings = LlmSettings(
            fast=LlmModelSettings(**{**base, "model": "fast-model", **fast}),
            slow=LlmModelSettings(**{**base, "model": "slow-model"}),
            attempts_per_model=attempts,
        )
        fast_model, slow_model = OpenAiChat(settings.fast), OpenAiChat(settings.slow)
        models.extend([fast_model, slow_model])
        return LlmActivities(fast_model, slow_model, sentences, settings)

    yield make
    for model in models:
        await model.aclose()


def new_call(lang: str | None = None) -> CallState:
    now = datetime.now(UTC)
    return CallState(
        call_id=f"call-{uuid.uuid4().hex[:12]}",
        created_at=now,
        initiate=CallInitiate(
            phone_number="+33612345678",
            bot_company="Contoso",
            bot_name="Amélie",
            agent_phone_number="+33612345679",
        ),
        lang_short_code=lang,
        messages=[Message(created_at=now, persona=Persona.HUMAN, content="My car was stolen.")],
    )


def turn(call: CallState, **kwargs: Any) -> LlmTurnInput:
    defaults: dict[str, Any] = {"turn_id": 4, "iteration": 0}
    return LlmTurnInput(call=call, **{**defaults, **kwargs})


async def run(activities: LlmActivities, input: LlmTurnInput) -> LlmTurnResult:
    result: LlmTurnResult = await ActivityEnvironment().run(activities.llm_turn, input)
    return result


async def events(sentences: RedisSentenceStream, call: CallState) -> list[SentenceEvent]:
    return [event for _, event in await sentences.read(call.call_id)]


async def spoken(sentences: RedisSentenceStream, call: CallState) -> list[tuple[str, str]]:
    return [(e.kind, e.text) for e in await events(sentences, call)]


async def wait_for_events(
    sentences: RedisSentenceStream, call: CallState, count: int, timeout_s: float = 5.0
) -> list[SentenceEvent]:
    deadline = time.monotonic() + timeout_s
    while len(found := await events(sentences, call)) < count:
        assert time.monotonic() < deadline, f"only {len(found)} events"
        await asyncio.sleep(0.02)
    return found


# --- streaming into Redis ------------------------------------------------------------------


async def test_sentences_reach_redis_before_the_answer_ends(
    llm: ScriptedLlmServer, make_activities: MakeActivities, sentences: RedisSentenceStream
) -> None:
    call = new_call()
    text = "style=cheerful Hello there. I can help with that. What happened exactly?"
    llm.state.add(ScriptedReply(text=text, chunk_chars=16, chunk_delay_s=0.3), user=call.call_id)
    task = asyncio.create_task(run(await make_activities(), turn(call, turn_id=7)))
    first = await wait_for_events(sentences, call, 1)
    # The rest of the answer is still being streamed (delayed chunks) when the first is there.
    assert not task.done()
    assert first[0].text == "Hello there."
    result = await task
    assert await events(sentences, call) == [
        SentenceEvent(turn_id=7, index=n, kind="sentence", text=t, style=Style.CHEERFUL)
        for n, t in enumerate(["Hello there.", "I can help with that.", "What happened exactly?"])
    ]
    # The tokens the stream's usage chunk reported (the scripted server's own count).
    [tokens] = result.usage
    assert (tokens.model, tokens.requests) == ("fast-model", 1)
    assert tokens.prompt_tokens > 0 and tokens.completion_tokens > 0
    assert result.model_copy(update={"usage": []}) == LlmTurnResult(
        content="Hello there. I can help with that. What happened exactly?",
        style=Style.CHEERFUL,
        finish_reason="stop",
        model="fast-model",
        sentences=3,
        guardrails=True,  # the default: the workflow checks the model's tool calls
        turn_policy="hosted",  # the default profile's: the workflow keeps it in the state
    )
    request = llm.state.requests(call.call_id)[0]
    assert request.tools and request.max_tokens == 160
    assert request.messages[-1] == {"role": "user", "content": "action=talk My car was stolen."}


async def test_events_carry_language_and_rate(
    llm: ScriptedLlmServer, make_activities: MakeActivities, sentences: RedisSentenceStream
) -> None:
    call = new_call("fr-FR").model_copy(update={"prosody_rate": 1.2})
    llm.state.add(ScriptedReply(text="Bonjour ! Je note."), user=call.call_id)
    await run(await make_activities(), turn(call, iteration=2))
    assert [(e.iteration, e.lang, e.rate, e.text) for e in await events(sentences, call)] == [
        (2, "fr-FR", 1.2, "Bonjour !"),
        (2, "fr-FR", 1.2, "Je note."),
    ]


# --- tool calls ----------------------------------------------------------------------------


async def test_tool_calls_are_repaired_deduplicated_and_filtered(
    llm: ScriptedLlmServer, make_activities: MakeActivities, sentences: RedisSentenceStream
) -> None:
    call = new_call()
    reply = ScriptedReply(
        text="Let me note that.",
        tool_calls=[
            ScriptedToolCall(name="updated_claim", arguments=CLAIM, id=""),
            ScriptedToolCall(name="updated_claim", arguments=json.dumps(CLAIM, indent=2)),
            ScriptedToolCall(name="get_weather", arguments={"city": "Paris"}),
            ScriptedToolCall(name="end_call", arguments='{"customer_response": "Bye!"', id="x1"),
        ],
    )
    llm.state.add(reply, user=call.call_id)
    result = await run(await make_activities(), turn(call, turn_id=5))
    assert [(c.id, c.name, json.loads(c.arguments)) for c in result.tool_calls] == [
        ("call_5_0_0", "updated_claim", CLAIM),
        ("x1", "end_call", {"customer_response": "Bye!"}),
    ]
    assert result.finish_reason == "tool_calls"
    # Text was said, so customer_response is not said again (reference #406).
    assert await spoken(sentences, call) == [("sentence", "Let me note that.")]
    assert result.content == "Let me note that."


async def test_customer_response_is_said_when_there_is_no_text(
    llm: ScriptedLlmServer, make_activities: MakeActivities, sentences: RedisSentenceStream
) -> None:
    call = new_call()
    say = {"customer_response": "I noted your name. Anything else?"}
    reply = ScriptedReply(
        text="style=sad ",
        tool_calls=[
            ScriptedToolCall(name="updated_claim", arguments={**CLAIM, **say}),
            ScriptedToolCall(name="new_or_updated_reminder", arguments={"title": "Call", **say}),
        ],
    )
    llm.state.add(reply, user=call.call_id)
    result = await run(await make_activities(), turn(call))
    assert await spoken(sentences, call) == [
        ("sentence", "I noted your name."),
        ("sentence", "Anything else?"),
    ]
    assert result.content == "I noted your name. Anything else?"
    assert result.style is Style.SAD
    assert result.sentences == 2
    assert len(result.tool_calls) == 2


async def test_tool_call_written_as_text(
    llm: ScriptedLlmServer, make_activities: MakeActivities, sentences: RedisSentenceStream
) -> None:
    call = new_call()
    text = (
        "Let me note that. <tool_call>\n"
        + json.dumps({"name": "updated_claim", "arguments": CLAIM})
        + "\n</tool_call>"
    )
    llm.state.add(ScriptedReply(text=text, chunk_chars=3), user=call.call_id)
    result = await run(await make_activities(), turn(call, turn_id=2))
    assert await spoken(sentences, call) == [("sentence", "Let me note that.")]
    assert result.content == "Let me note that."
    assert [(c.id, c.name, json.loads(c.arguments)) for c in result.tool_calls] == [
        ("call_2_0_0", "updated_claim", CLAIM)
    ]


async def test_multi_tool_use_parallel_is_expanded(
    llm: ScriptedLlmServer, make_activities: MakeActivities
) -> None:
    call = new_call()
    uses = [
        {"recipient_name": "functions.speech_speed", "parameters": {"speed": 0.9}},
        {"recipient_name": "functions.speech_lang", "parameters": {"lang": "fr-FR"}},
        {"recipient_name": "functions.speech_speed", "parameters": {"speed": 0.9}},
    ]
    parallel = ScriptedToolCall(
        name="multi_tool_use.parallel", arguments={"tool_uses": uses}, id="call_p"
    )
    llm.state.add(ScriptedReply(tool_calls=[parallel]), user=call.call_id)
    result = await run(await make_activities(), turn(call))
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_p_0", "speech_speed", '{"speed": 0.9}'),
        ("call_p_1", "speech_lang", '{"lang": "fr-FR"}'),
    ]


async def test_last_iteration_sends_no_tools_key(
    llm: ScriptedLlmServer,
    bodies: Bodies,
    make_activities: MakeActivities,
    sentences: RedisSentenceStream,
) -> None:
    call = new_call()
    llm.state.add(
        ScriptedReply(text="Sure."),
        ScriptedReply(text='Done. {"name": "end_call", "arguments": {}}'),
        user=call.call_id,
    )
    activities = await make_activities()
    await run(activities, turn(call, blacklist=["send_sms"]))
    result = await run(activities, turn(call, iteration=2, tools_enabled=False))
    first, last = bodies[call.call_id]
    assert "send_sms" not in [t["function"]["name"] for t in first["tools"]]
    assert len(first["tools"]) == 9
    assert "tools" not in last and "tool_choice" not in last
    assert llm.state.requests(call.call_id)[1].tools is None
    assert result.tool_calls == [] and result.content == "Done."
    assert first["user"] == call.call_id and first["stream"] is True
    assert first["seed"] == 42 and first["temperature"] == 0.0


async def test_the_policy_the_call_state_names_runs_whatever_the_settings(
    llm: ScriptedLlmServer,
    bodies: Bodies,
    make_activities: MakeActivities,
    sentences: RedisSentenceStream,
) -> None:
    """A call keeps the policy of its first turn: the settings say "full", the state "small"."""
    call = new_call().model_copy(update={"turn_policy": "small", "turn_guardrails": True})
    llm.state.add(
        ScriptedReply(
            text="I see.", tool_calls=[ScriptedToolCall(name="updated_claim", arguments=CLAIM)]
        ),
        user=call.call_id,
    )
    result = await run(await make_activities(), turn(call))
    [body] = bodies[call.call_id]
    assert "tools" not in body  # the small prompt describes its tools in text
    assert [m["role"] for m in body["messages"]].count("system") == 1
    assert result.turn_policy == "small" and result.guardrails
    assert result.tool_calls == []  # a small model's calls are not kept with guardrails
    # The bot asks for the next field itself, and it is said and stored.
    assert result.sentences == 2 and result.content.startswith("I see. ")
    question = result.content.removeprefix("I see. ")
    assert question.endswith("?")
    assert await spoken(sentences, call) == [("sentence", "I see."), ("sentence", question)]


async def test_a_turn_ending_on_the_policys_question_is_complete_even_if_the_model_was_cut(
    llm: ScriptedLlmServer, make_activities: MakeActivities, sentences: RedisSentenceStream
) -> None:
    """The small model's acknowledgement hit its token limit: the policy's question closes the
    turn, so the workflow runs no second iteration (which asked the question twice)."""
    call = new_call().model_copy(update={"turn_policy": "small", "turn_guardrails": True})
    llm.state.add(ScriptedReply(text="Got it, thanks.", finish_reason="length"), user=call.call_id)
    result = await run(await make_activities(), turn(call))
    question = result.content.removeprefix("Got it, thanks. ")
    assert question.endswith("?") and question != result.content
    assert result.finish_reason == "stop"
    assert await spoken(sentences, call) == [
        ("sentence", "Got it, thanks."),
        ("sentence", question),
    ]


async def test_a_small_models_acknowledgement_is_its_first_sentence_used_or_dropped(
    llm: ScriptedLlmServer,
    bodies: Bodies,
    make_activities: MakeActivities,
    sentences: RedisSentenceStream,
) -> None:
    """The first sentence parrots the caller, so it is dropped; the usable one after it is
    not waited for (a 0.5B model rambled up to 8 s a turn in `make demo`): the template
    acknowledgement and the question follow at once, and the model is asked for one short
    sentence's tokens only."""
    call = new_call().model_copy(update={"turn_policy": "small", "turn_guardrails": True})
    llm.state.add(
        ScriptedReply(text="My car was stolen. I am sorry to hear that. " + "More words. " * 40),
        user=call.call_id,
    )
    result = await run(await make_activities(), turn(call))
    [body] = bodies[call.call_id]
    assert body["max_tokens"] == 48
    said = [text for _, text in await spoken(sentences, call)]
    assert "My car was stolen." not in said and "I am sorry to hear that." not in said
    # The policy's closing: a template acknowledgement, then the question for the next field.
    [closing] = said
    assert closing.endswith("?") and closing.count(". ") == 1, said
    assert result.content == " ".join(said)
    assert result.finish_reason == "stop"


# --- errors and fallbacks ------------------------------------------------------------------


async def test_fast_model_errors_fall_back_to_slow(
    llm: ScriptedLlmServer, make_activities: MakeActivities
) -> None:
    call = new_call()
    fast = Match(user=call.call_id, model="fast-model")
    llm.state.add(
        ScriptedReply(status=500, match=fast),
        ScriptedReply(status=503, match=fast),
        ScriptedReply(text="Slow but sure.", match=Match(user=call.call_id, model="slow-model")),
    )
    result = await run(await make_activities(attempts=2), turn(call))
    assert [r.model for r in llm.state.requests(call.call_id)] == [
        "fast-model",
        "fast-model",
        "slow-model",
    ]
    assert result.model == "slow-model" and result.content == "Slow but sure."


async def test_slow_model_first_when_flagged(
    llm: ScriptedLlmServer, make_activities: MakeActivities
) -> None:
    call = new_call()
    llm.state.add(ScriptedReply(status=429), ScriptedReply(text="Hi."), user=call.call_id)
    flags = FeatureFlags(slow_llm_for_chat=True)
    result = await run(await make_activities(attempts=1), turn(call, flags=flags))
    assert [r.model for r in llm.state.requests(call.call_id)] == ["slow-model", "fast-model"]
    assert result.model == "fast-model"


async def test_all_models_failing_is_a_retryable_error(
    llm: ScriptedLlmServer, make_activities: MakeActivities
) -> None:
    call = new_call()
    llm.state.add(*[ScriptedReply(status=502)] * 4, user=call.call_id)
    with pytest.raises(ApplicationError) as caught:
        await run(await make_activities(attempts=2), turn(call))
    assert caught.value.type == "LlmUnavailable" and not caught.value.non_retryable
    assert len(llm.state.requests(call.call_id)) == 4


@pytest.mark.parametrize(("status", "code"), [(401, "invalid_api_key"), (400, None), (404, None)])
async def test_client_errors_are_fatal(
    llm: ScriptedLlmServer, make_activities: MakeActivities, status: int, code: str | None
) -> None:
    call = new_call()
    llm.state.add(ScriptedReply(status=status, error_code=code), user=call.call_id)
    with pytest.raises(ApplicationError) as caught:
        await run(await make_activities(), turn(call))
    assert caught.value.type == "LlmFatal" and caught.value.non_retryable
    assert len(llm.state.requests(call.call_id)) == 1


async def test_content_filter_400_returns_filtered(
    llm: ScriptedLlmServer, make_activities: MakeActivities, sentences: RedisSentenceStream
) -> None:
    call = new_call()
    llm.state.add(ScriptedReply(status=400, error_code="content_filter"), user=call.call_id)
    result = await run(await make_activities(), turn(call))
    assert result.content_filtered and result.content == "" and result.sentences == 0
    assert len(llm.state.requests(call.call_id)) == 1
    assert await events(sentences, call) == []


async def test_streamed_content_filter_returns_filtered(
    llm: ScriptedLlmServer, make_activities: MakeActivities, sentences: RedisSentenceStream
) -> None:
    call = new_call()
    reply = ScriptedReply(text="Sure. And then the un", finish_reason="content_filter")
    llm.state.add(reply, user=call.call_id)
    result = await run(await make_activities(), turn(call))
    assert result.content_filtered and result.finish_reason == "content_filter"
    # What was already said stays said; the cut remainder is not spoken.
    assert result.content == "Sure." and await spoken(sentences, call) == [("sentence", "Sure.")]


async def test_length_is_returned_as_is(
    llm: ScriptedLlmServer, make_activities: MakeActivities
) -> None:
    call = new_call()
    llm.state.add(ScriptedReply(text="Your claim is", finish_reason="length"), user=call.call_id)
    result = await run(await make_activities(), turn(call))
    assert result.finish_reason == "length" and result.content == "Your claim is"


# --- timing: filler and barge-in -----------------------------------------------------------


async def test_slow_answer_gets_one_filler_not_in_content(
    llm: ScriptedLlmServer, make_activities: MakeActivities, sentences: RedisSentenceStream
) -> None:
    call = new_call()
    llm.state.add(ScriptedReply(text="Here it is.", delay_s=2.2), user=call.call_id)
    result = await run(
        await make_activities(), turn(call, flags=FeatureFlags(answer_soft_timeout_sec=1))
    )
    assert await spoken(sentences, call) == [
        ("filler", phrase("timeout_loading", call)),
        ("sentence", "Here it is."),
    ]
    assert result.content == "Here it is." and result.sentences == 1


async def test_cancellation_stops_the_stream(
    llm: ScriptedLlmServer, make_activities: MakeActivities, sentences: RedisSentenceStream
) -> None:
    call = new_call()
    text = " ".join(f"Sentence number {n}." for n in range(20))
    llm.state.add(ScriptedReply(text=text, chunk_chars=10, chunk_delay_s=0.1), user=call.call_id)
    env = ActivityEnvironment()
    task = asyncio.create_task(env.run((await make_activities()).llm_turn, turn(call)))
    await wait_for_events(sentences, call, 1)
    started = time.monotonic()
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 0.5
    said = len(await events(sentences, call))
    await asyncio.sleep(0.5)
    assert len(await events(sentences, call)) == said < 20


async def test_azure_deployment_path(
    llm: ScriptedLlmServer, make_activities: MakeActivities
) -> None:
    call = new_call()
    llm.state.add(ScriptedReply(text="From Azure."), user=call.call_id)
    activities = await make_activities(kind="azure", model="gpt-4o-mini-deploy")
    result = await run(activities, turn(call))
    request = llm.state.requests(call.call_id)[0]
    assert request.path == "/openai/deployments/gpt-4o-mini-deploy/chat/completions"
    assert result.model == "gpt-4o-mini-deploy" and result.content == "From Azure."


# --- stream shapes the scripted server cannot produce, through a fake model ----------------


class FakeModel:
    """A `ChatModel` replaying fixed chunks, then optionally raising."""

    def __init__(self, name: str, chunks: list[ChatChunk], error: Exception | None = None):
        self.name = name
        self.chunks = chunks
        self.error = error
        self.calls = 0

    async def stream(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        *,
        user: str,
        max_tokens: int,
        json_schema: dict[str, Any] | None = None,
    ) -> AsyncIterator[ChatChunk]:
        self.calls += 1
        for chunk in self.chunks:
            yield chunk
        if self.error is not None:
            raise self.error


def fake_activities(
    sentences: RedisSentenceStream, fast: FakeModel, slow: FakeModel | None = None
) -> LlmActivities:
    slow = slow or FakeModel("slow", [ChatChunk(text="Slow.")])
    return LlmActivities(fast, slow, sentences, LlmSettings(attempts_per_model=1))


async def test_fragments_with_empty_ids_keep_the_first_id(sentences: RedisSentenceStream) -> None:
    chunks = [
        ChatChunk(tool_calls=(ToolCallDelta(0, "call_a", "end_call", '{"customer_'),)),
        ChatChunk(tool_calls=(ToolCallDelta(0, "", None, 'response": "Bye."}'),)),
        # A server that puts every call at index 0: a new id starts a new call.
        ChatChunk(tool_calls=(ToolCallDelta(0, "call_b", "speech_speed", '{"speed": 1.1}'),)),
        ChatChunk(tool_calls=(ToolCallDelta(1, "", "new_claim", ""),)),
        ChatChunk(finish_reason="tool_calls"),
    ]
    call = new_call()
    result = await run(fake_activities(sentences, FakeModel("fast", chunks)), turn(call))
    assert [(c.id, c.name, c.arguments) for c in result.tool_calls] == [
        ("call_a", "end_call", '{"customer_response": "Bye."}'),
        ("call_b", "speech_speed", '{"speed": 1.1}'),
        ("call_4_0_2", "new_claim", "{}"),
    ]
    assert result.content == "Bye."


async def test_error_after_a_sentence_is_not_retried(sentences: RedisSentenceStream) -> None:
    fast = FakeModel(
        "fast", [ChatChunk(text="Hello there. And")], LlmRetryableError("connection reset")
    )
    slow = FakeModel("slow", [ChatChunk(text="Other.")])
    call = new_call()
    with pytest.raises(ApplicationError) as caught:
        await run(fake_activities(sentences, fast, slow), turn(call))
    assert caught.value.type == "LlmInterrupted" and not caught.value.non_retryable
    assert (fast.calls, slow.calls) == (1, 0)
    assert await spoken(sentences, call) == [("sentence", "Hello there.")]


async def test_error_before_any_sentence_falls_back(sentences: RedisSentenceStream) -> None:
    fast = FakeModel("fast", [ChatChunk(text="Hel")], LlmRetryableError("timeout"))
    call = new_call()
    result = await run(fake_activities(sentences, fast), turn(call))
    assert result.model == "slow" and result.content == "Slow."


# --- provider pieces -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "content_filter", LlmContentFiltered),
        (400, None, LlmFatalError),
        (401, "invalid_api_key", LlmFatalError),
        (403, None, LlmFatalError),
        (408, None, LlmRetryableError),
        (409, None, LlmRetryableError),
        (429, "rate_limit_exceeded", LlmRetryableError),
        (500, None, LlmRetryableError),
        (503, None, LlmRetryableError),
    ],
)
def test_error_for_status(status: int, code: str | None, error: type[Exception]) -> None:
    assert type(error_for_status(status, code, "boom")) is error


async def test_connection_refused_is_retryable() -> None:
    model = OpenAiChat(LlmModelSettings(endpoint="http://127.0.0.1:9/v1", request_timeout_sec=2))
    with pytest.raises(LlmRetryableError):
        async for _ in model.stream([], None, user="u", max_tokens=16):
            pass
    await model.aclose()


@pytest.fixture
def call_id() -> Iterator[str]:
    yield f"call-{uuid.uuid4().hex[:12]}"


async def test_redis_stream_entry_format(redis: Redis, call_id: str) -> None:
    stream = RedisSentenceStream(redis, maxlen=10, ttl_sec=120)
    first = await stream.append(call_id, SentenceEvent(turn_id=3, kind="sentence", text="Hi."))
    raw: Any = await redis.xrange(stream.key(call_id))
    assert raw[0][1] == {
        b"turn_id": b"3",
        b"iteration": b"0",
        b"index": b"0",
        b"kind": b"sentence",
        b"text": b"Hi.",
        b"style": b"none",
        b"lang": b"en-US",
        b"rate": b"1.0",
    }
    assert 0 < await redis.ttl(stream.key(call_id)) <= 120
    for n in range(250):
        await stream.append(call_id, SentenceEvent(turn_id=4, kind="sentence", text=f"{n}."))
    # Approximate MAXLEN trims whole radix-tree nodes (100 entries each by default).
    assert await redis.xlen(stream.key(call_id)) <= 110
    after = await stream.read(call_id, after=first)
    assert after and all(event.turn_id == 4 for _, event in after)
    assert await stream.read(call_id, after=after[-1][0]) == []


async def test_redis_stream_blocking_read(redis: Redis, call_id: str) -> None:
    stream = RedisSentenceStream(redis)
    reader = asyncio.create_task(stream.read(call_id, after="$", block_ms=2_000))
    await asyncio.sleep(0.1)
    await stream.append(call_id, SentenceEvent(turn_id=1, kind="end"))
    [(_, event)] = await reader
    assert event.kind == "end"


async def test_a_failing_sentence_stream_waits_for_the_last_heartbeat_before_failing(
    llm: ScriptedLlmServer,
    make_activities: MakeActivities,
    sentences: RedisSentenceStream,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis dies after the first sentence: the attempt beats with what was said and waits out
    the core's heartbeat throttle before failing, so the retry learns that sentence from the
    server even where Redis lost it (a dev server drops details attached to a failure)."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    from activities.llm import FLUSH_HEARTBEAT_SEC

    call = new_call()
    llm.state.add(ScriptedReply(text=FIRST), user=call.call_id)
    original = sentences.append_once
    failed_at: list[float] = []

    async def dies_after_one(call_id: str, event: SentenceEvent) -> Any:
        if event.index >= 1:
            failed_at.append(time.monotonic())
            raise RedisConnectionError("Connection refused")
        return await original(call_id, event)

    monkeypatch.setattr(sentences, "append_once", dies_after_one)
    beats: list[tuple[float, Any]] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append((time.monotonic(), details))
    activities = await make_activities()
    with pytest.raises(RedisConnectionError):
        await env.run(activities.llm_turn, turn(call))
    raised_at = time.monotonic()
    assert raised_at - failed_at[0] >= FLUSH_HEARTBEAT_SEC
    after = [details for at, details in beats if at >= failed_at[0]]
    assert after and after[-1][0]["said"] == {"0": "First of all, you are covered."}


# --- retried attempts: each key appended once, the answer is what was said ------------------

FIRST = "First of all, you are covered. Second, a car is lent to you. Third, it is free."


def retry_env() -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, attempt=2)
    return env


async def cut_after(
    activities: LlmActivities,
    input: LlmTurnInput,
    stream: RedisSentenceStream,
    count: int,
) -> None:
    """Run a first attempt and stop it once `count` events are in the stream."""
    env = ActivityEnvironment()
    task = asyncio.create_task(env.run(activities.llm_turn, input))
    await wait_for_events(stream, input.call, count)
    env.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_retry_appends_only_the_sentences_not_yet_said(
    llm: ScriptedLlmServer, make_activities: MakeActivities, sentences: RedisSentenceStream
) -> None:
    call = new_call()
    slow = ScriptedReply(text=FIRST, chunk_chars=8, chunk_delay_s=0.15)
    llm.state.add(slow, ScriptedReply(text=FIRST), user=call.call_id)
    activities = await make_activities()
    await cut_after(activities, turn(call), sentences, 2)
    result: LlmTurnResult = await retry_env().run(activities.llm_turn, turn(call))
    said = await events(sentences, call)
    assert [(e.index, e.text) for e in said] == [
        (0, "First of all, you are covered."),
        (1, "Second, a car is lent to you."),
        (2, "Third, it is free."),
    ]
    assert result.content == FIRST and result.sentences == 3


async def test_a_retry_answering_differently_keeps_what_was_said(
    llm: ScriptedLlmServer, make_activities: MakeActivities, sentences: RedisSentenceStream
) -> None:
    call = new_call()
    slow = ScriptedReply(text=FIRST, chunk_chars=8, chunk_delay_s=0.15)
    other = "You are insured. A car is lent. It costs nothing. Anything else?"
    llm.state.add(slow, ScriptedReply(text=other), user=call.call_id)
    activities = await make_activities()
    await cut_after(activities, turn(call), sentences, 2)
    result: LlmTurnResult = await retry_env().run(activities.llm_turn, turn(call))
    said = [e.text for e in await events(sentences, call)]
    # Sentences 0 and 1 were heard from the first answer; the retry goes on from sentence 2.
    assert said == [
        "First of all, you are covered.",
        "Second, a car is lent to you.",
        "It costs nothing.",
        "Anything else?",
    ]
    assert result.content == " ".join(said)  # stored == spoken


async def test_a_shorter_retry_still_stores_every_sentence_said(
    llm: ScriptedLlmServer, make_activities: MakeActivities, sentences: RedisSentenceStream
) -> None:
    call = new_call()
    slow = ScriptedReply(text=FIRST, chunk_chars=8, chunk_delay_s=0.15)
    llm.state.add(slow, ScriptedReply(text="Yes."), user=call.call_id)
    activities = await make_activities()
    await cut_after(activities, turn(call), sentences, 2)
    result: LlmTurnResult = await retry_env().run(activities.llm_turn, turn(call))
    said = [e.text for e in await events(sentences, call)]
    assert said == ["First of all, you are covered.", "Second, a car is lent to you."]
    assert result.content == " ".join(said) and result.sentences == 2


async def test_the_filler_is_said_once_over_attempts(
    llm: ScriptedLlmServer, make_activities: MakeActivities, sentences: RedisSentenceStream
) -> None:
    call = new_call()
    flags = FeatureFlags(answer_soft_timeout_sec=1)
    llm.state.add(
        ScriptedReply(text="Too late.", delay_s=5),
        ScriptedReply(text="Here it is.", delay_s=1.5),
        user=call.call_id,
    )
    activities = await make_activities()
    await cut_after(activities, turn(call, flags=flags), sentences, 1)  # the filler
    result: LlmTurnResult = await retry_env().run(activities.llm_turn, turn(call, flags=flags))
    said = await events(sentences, call)
    assert [(e.kind, e.index, e.text) for e in said] == [
        ("filler", FILLER_INDEX, phrase("timeout_loading", call)),
        ("sentence", 0, "Here it is."),
    ]
    assert result.content == "Here it is."


async def test_an_iteration_is_keyed_apart_from_the_others(
    llm: ScriptedLlmServer, make_activities: MakeActivities, sentences: RedisSentenceStream
) -> None:
    call = new_call()
    llm.state.add(ScriptedReply(text="Noted."), ScriptedReply(text="Done."), user=call.call_id)
    activities = await make_activities()
    await ActivityEnvironment().run(activities.llm_turn, turn(call, iteration=0))
    await ActivityEnvironment().run(activities.llm_turn, turn(call, iteration=1))
    said = await events(sentences, call)
    assert [(e.iteration, e.index, e.text) for e in said] == [(0, 0, "Noted."), (1, 0, "Done.")]


async def test_a_retried_speak_appends_its_phrase_once(redis: Redis) -> None:
    call = new_call()
    stream = RedisSentenceStream(redis)
    speech = SpeechActivities(stream)
    sorry = SpeakInput(call_id=call.call_id, turn_id=3, text="Sorry.", kind="error")
    first = ActivityEnvironment()
    first.info = dataclasses.replace(first.info, activity_id="7")
    await first.run(speech.speak, sorry)
    again = ActivityEnvironment()
    again.info = dataclasses.replace(first.info, attempt=2)
    await again.run(speech.speak, sorry)
    # The same phrase from another activity of the workflow (a second apology) is said again.
    later = ActivityEnvironment()
    later.info = dataclasses.replace(first.info, activity_id="9")
    await later.run(speech.speak, sorry)
    said = [(e.kind, e.turn_id, e.index, e.text) for _, e in await stream.read(call.call_id)]
    assert said == [
        ("error", 3, 1_000_007, "Sorry."),
        ("error", 3, 1_000_009, "Sorry."),
    ]


async def test_a_slow_retry_holds_the_caller_once_and_never_stores_it(
    llm: ScriptedLlmServer, make_activities: MakeActivities, sentences: RedisSentenceStream
) -> None:
    call = new_call()
    flags = FeatureFlags(answer_soft_timeout_sec=1)
    slow = ScriptedReply(text=FIRST, chunk_chars=8, chunk_delay_s=0.15)
    llm.state.add(slow, ScriptedReply(text=FIRST, delay_s=1.6), user=call.call_id)
    activities = await make_activities()
    await cut_after(activities, turn(call, flags=flags), sentences, 2)
    result: LlmTurnResult = await retry_env().run(activities.llm_turn, turn(call, flags=flags))
    said = [(e.kind, e.text) for e in await events(sentences, call)]
    assert said == [
        ("sentence", "First of all, you are covered."),
        ("sentence", "Second, a car is lent to you."),
        ("filler", phrase("hold", call)),  # resumed mid-answer, nothing new within 0.3 s
        ("sentence", "Third, it is free."),
    ]
    assert result.content == FIRST
