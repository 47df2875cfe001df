"""Activity `llm_turn`: one LLM iteration, each sentence spoken as soon as it is complete."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.settings import LlmModelSettings, LlmSettings
from domain.call import CallState, Style
from domain.contracts import (
    FILLER_INDEX,
    LlmToolCallRequest,
    LlmTurnInput,
    LlmTurnResult,
    SentenceEvent,
)
from domain.prompts import build_chat, phrase, system_prompts
from domain.text import SentenceSplitter, normalise_arguments
from domain.tools import TOOL_NAMES, tool_schemas
from domain.turn import TurnPolicy, choose, policy_for
from domain.usage import LlmTokens
from providers.llm.base import (
    ChatModel,
    LlmContentFiltered,
    LlmFatalError,
    LlmRetryableError,
    TokenUsage,
    ToolCallDelta,
)
from providers.sentences.base import Appended, SentenceSink

CHARS_PER_TOKEN = 3
MIN_HISTORY_CHARS = 2_000
BACKOFF_BASE_SEC = 0.2
BACKOFF_CAP_SEC = 2.0
# Heartbeats are what deliver a barge-in cancellation, and the workflow's heartbeat timeout is
# short: beat on a timer too, not only per chunk, so a slow first token neither times out nor
# delays the cancellation.
TICK_SEC = 0.25
# A retry that resumes mid-answer regenerates the sentences already said before a new one: the
# caller hears "hold" if nothing new came this soon (the soft timeout is for a first answer).
RETRY_HOLD_SEC = 0.3
# Longer than the worker's `max_heartbeat_throttle_interval` (0.3 s): an attempt whose sentence
# stream fails waits this long, so the core sends its last heartbeat (what was said) before
# the failure. A server without `activity_failure_include_heartbeat` (the dev server) keeps
# only heartbeats it received: a detail still throttled at the failure was lost, and with
# Redis wiped too, the retry said that sentence again (the fault suite's redis-mid case, seen
# once in a CI rehearsal).
FLUSH_HEARTBEAT_SEC = 0.4
PARALLEL = "multi_tool_use.parallel"


class LlmActivities:
    """The `llm_turn` activity, with a fast and a slow model to fall back between."""

    def __init__(
        self, fast: ChatModel, slow: ChatModel, sentences: SentenceSink, settings: LlmSettings
    ) -> None:
        self._fast = fast
        self._slow = slow
        self._sentences = sentences
        self._settings = settings

    @activity.defn(name="llm_turn")
    async def llm_turn(self, input: LlmTurnInput) -> LlmTurnResult:
        """Stream one completion into the call's sentence stream; return what was said.

        What the model is shown and what of its answer is kept is the call's turn policy's
        (`domain/turn/`); the result names the policy, with the answers it took from the
        caller's turn (the model is shown them as stored) for the workflow to store.
        """
        policy = self._policy(input.call)
        plan = policy.plan(input)
        if plan.answer_without_model:
            said = await self._say_own(input, plan.say)
            return LlmTurnResult(
                content=" ".join(said),
                tool_calls=plan.intent,
                prefill=plan.prefill,  # a goodbye may say more: it is stored too
                model="guardrails",
                sentences=len(said),
                guardrails=policy.guardrails,
                turn_policy=policy.name,
            )
        now = datetime.now(UTC)
        call = plan.call
        tools = tool_schemas(call, frozenset(TOOL_NAMES - plan.offered)) if plan.schemas else None
        messages = build_chat(
            call,
            now=now,
            max_messages=self._settings.history_messages,
            max_chars=self._history_chars(call, now, tools),
            profile=plan.profile,
            slot_hint=plan.slot_hint,
            ack_only=plan.ack_only,
        )
        own = len(plan.say)
        speaker = _Speaker(
            self._sentences,
            input,
            lambda text: policy.unusable(text, input.call, speaker.texts[own:]),
            limit=plan.model_sentences,
        )
        await speaker.resume()
        for sentence in plan.say:  # the policy's own words come first
            await speaker.say(sentence, Style.NONE, checked=False)
        watchdog = asyncio.create_task(speaker.watch(input.flags.answer_soft_timeout_sec))
        try:
            run = self._run(input, messages, tools, speaker, plan.offered, plan.max_tokens)
            try:
                result = await asyncio.wait_for(run, plan.model_budget_s)
            except TimeoutError:
                # Only a policy that speaks its own words sets a budget: they follow now.
                activity.logger.info(
                    "model past its %ss budget: the policy speaks", plan.model_budget_s
                )
                result = LlmTurnResult(
                    content=" ".join(speaker.texts),
                    model="guardrails",
                    sentences=speaker.count,
                )
        finally:
            watchdog.cancel()
            # wait() never raises the watchdog's CancelledError, and lets ours propagate.
            await asyncio.wait([watchdog])
        calls = policy.keep_calls(plan, result.tool_calls, result.content_filtered)
        if dropped := [c.name for c in result.tool_calls if c not in calls]:
            activity.logger.info("model's tool calls dropped by the policy: %s", dropped)
        question = policy.closing_question(
            plan,
            result.content,
            calls,
            content_filtered=result.content_filtered,
            tools_enabled=input.tools_enabled,
        )
        if question is not None:
            await speaker.say(question, Style.NONE, checked=False)  # may be asked again
            # The turn ends on the policy's question: complete, whatever cut the model's own
            # sentence. A "length" finish would make the workflow run another iteration, which
            # asked the same question again while the caller answered (`make demo`, 2 of 10).
            result = result.model_copy(
                update={
                    "content": f"{result.content} {question}".strip(),
                    "sentences": result.sentences + 1,
                    "finish_reason": "stop",
                }
            )
        return result.model_copy(
            update={
                "tool_calls": calls,
                "prefill": plan.prefill,
                "guardrails": policy.guardrails,
                "turn_policy": policy.name,
            }
        )

    async def _say_own(self, input: LlmTurnInput, sentences: tuple[str, ...]) -> list[str]:
        """Speak the policy's own sentences (a turn answered without the model)."""
        if not sentences:
            return []
        speaker = _Speaker(self._sentences, input)
        await speaker.resume()
        for sentence in sentences:
            await speaker.say(sentence, Style.NONE, checked=False)
        await speaker.settle()
        return speaker.texts

    def _policy(self, call: CallState) -> TurnPolicy:
        """The call's policy: the one its state names, or the settings' on its first turn."""
        name = call.turn_policy or choose(self._settings.profile)
        guardrails = (
            self._settings.guardrails if call.turn_guardrails is None else call.turn_guardrails
        )
        return policy_for(name, guardrails=guardrails)

    def _history_chars(
        self, call: CallState, now: datetime, tools: list[dict[str, Any]] | None
    ) -> int:
        # The smaller window of the two models, so a fallback never overflows either.
        window = min(
            m.context_tokens - m.max_tokens for m in (self._settings.fast, self._settings.slow)
        )
        fixed = len(json.dumps(system_prompts(call, now))) + len(json.dumps(tools or []))
        return max(window * CHARS_PER_TOKEN - fixed, MIN_HISTORY_CHARS)

    def _models(self, input: LlmTurnInput) -> list[tuple[ChatModel, LlmModelSettings]]:
        fast = (self._fast, self._settings.fast)
        slow = (self._slow, self._settings.slow)
        return [slow, fast] if input.flags.slow_llm_for_chat else [fast, slow]

    async def _run(
        self,
        input: LlmTurnInput,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        speaker: _Speaker,
        offered: frozenset[str],
        max_tokens: int | None = None,
    ) -> LlmTurnResult:
        last: LlmRetryableError | None = None
        for model, model_settings in self._models(input):
            limit = min(model_settings.max_tokens, max_tokens or model_settings.max_tokens)
            for attempt in range(self._settings.attempts_per_model):
                if attempt:
                    await asyncio.sleep(_backoff(attempt - 1))
                try:
                    return await _Attempt(model, input, speaker, offered).run(
                        messages, tools, limit
                    )
                except LlmRetryableError as exc:
                    if speaker.count:
                        # Temporal retries the activity (the workflow's retry policy): the new
                        # attempt's first sentences have the keys of those said, so they are
                        # not appended again.
                        raise ApplicationError(
                            f"{model.name} failed after {speaker.count} sentences: {exc}",
                            type="LlmInterrupted",
                        ) from exc
                    activity.logger.warning("%s attempt %s failed: %s", model.name, attempt, exc)
                    last = exc
                except LlmContentFiltered as exc:
                    activity.logger.warning("%s content filter: %s", model.name, exc)
                    return await speaker.filtered(model.name)
                except LlmFatalError as exc:
                    raise ApplicationError(str(exc), type="LlmFatal", non_retryable=True) from exc
        raise ApplicationError(f"no model answered: {last}", type="LlmUnavailable") from last


def _from_details(details: Sequence[Any]) -> tuple[dict[int, str], bool]:
    """What the last heartbeat of an earlier attempt recorded (see `_Speaker.beat`)."""
    last = details[-1] if details else None
    if not isinstance(last, dict):
        return {}, False
    said = last.get("said")
    recorded = {
        int(n): str(text)
        for n, text in (said.items() if isinstance(said, dict) else [])
        if str(n).isdigit()
    }
    return recorded, bool(last.get("filler"))


def _backoff(n: int) -> float:
    delay = min(BACKOFF_CAP_SEC, BACKOFF_BASE_SEC * 2.0**n)
    return delay * random.uniform(0.5, 1.0)


class _Speaker:
    """Appends the turn's sentences (and at most one filler) to the call's stream.

    Safe to retry: sentence n of the iteration has the key (turn, iteration, n), so a retried
    attempt appends only the sentences its earlier attempts did not. A model may answer a retry
    differently: sentence n is then what was appended first (the caller heard that one), and the
    answer is the sentences appended, in order, so what is stored is what was said.

    The keys live in Redis, which a restart without persistence wipes: every heartbeat also
    carries what was appended (Temporal keeps the last details for the next attempt), and a
    retry skips the indices of either record. Details are sent at most every 0.3 s, but a
    failed attempt sends its last ones with the failure, so only a worker killed within 0.3 s
    of an append *and* a Redis wipe before the retry can say that sentence twice.
    """

    def __init__(
        self,
        sink: SentenceSink,
        input: LlmTurnInput,
        skip: Callable[[str], bool] | None = None,
        *,
        limit: int | None = None,
    ) -> None:
        self._sink = sink
        self._input = input
        self._skip = skip  # sentences never spoken nor stored (a small model parroting)
        self._limit = limit  # the model's sentences the policy considers: then the stream stops
        self._considered = 0  # the model's sentences spoken or dropped so far
        self._lock = asyncio.Lock()  # a filler never interleaves with a sentence
        self._filler_sent = False
        self._earlier: dict[int, str] = {}  # sentences appended by earlier attempts, by index
        self._recorded: dict[int, str] = {}  # the same, from the last heartbeat's details
        self._hold_sec: float | None = None  # resumed mid-answer: hold the caller this soon
        self._fresh = False  # this attempt appended a sentence the caller had not heard
        self.texts: list[str] = []

    @property
    def count(self) -> int:
        return len(self.texts)

    @property
    def full(self) -> bool:
        """The policy considers no more of the model's sentences this iteration: a small
        model's one acknowledgement is its first sentence, used or dropped, so the rest of its
        answer is never waited for (measured in `make demo`: up to 8 s of rambling a turn)."""
        return self._limit is not None and self._considered >= self._limit

    async def resume(self) -> None:
        """On a retry, learn what the earlier attempts appended (no round trip otherwise)."""
        info = activity.info()
        if info.attempt > 1:
            self._recorded, filler = _from_details(info.heartbeat_details)
            self._filler_sent = filler
            await self._load_earlier()
            if self._earlier and not self._filler_sent:
                self._hold_sec = RETRY_HOLD_SEC
            self.beat()  # a further retry knows it all, whatever this attempt lives to say

    async def _load_earlier(self) -> None:
        call, input = self._input.call, self._input
        earlier = await self._sink.appended(call.call_id, input.turn_id, input.iteration)
        self._filler_sent = self._filler_sent or FILLER_INDEX in earlier
        found = {n: text for n, text in earlier.items() if n >= 0}
        self._earlier = {**self._recorded, **found}

    def beat(self) -> None:
        """Heartbeat with what this iteration has appended so far, over all attempts."""
        said = {**self._earlier, **dict(enumerate(self.texts))}
        activity.heartbeat(
            {"said": {str(n): t for n, t in said.items()}, "filler": self._filler_sent}
        )

    async def say(self, text: str, style: Style, *, checked: bool = True) -> None:
        if checked and self.full:
            return  # past what the policy considers of the model's answer
        if checked:
            self._considered += 1
        if checked and self._skip is not None and self._skip(text):
            activity.logger.info("dropped a sentence the policy does not speak: %r", text)
            return
        async with self._lock:
            index = len(self.texts)
            if index in self._earlier:
                # Said by an earlier attempt: no append, even where Redis lost the key.
                self.texts.append(self._earlier[index])
                return
            found = await self._append("sentence", index, text, style)
            self._fresh = self._fresh or found.new
            self.texts.append(found.text)
            self.beat()

    async def settle(self) -> None:
        """Sentences of earlier attempts beyond this one's answer were said: keep them too."""
        if activity.info().attempt > 1:
            await self._load_earlier()  # again: an attempt thought dead may have gone on
        while self.count in self._earlier:
            self.texts.append(self._earlier[self.count])

    async def watch(self, soft_timeout_sec: float) -> None:
        """Heartbeat on a timer; say the filler once if nothing was said in time."""
        wait = soft_timeout_sec if self._hold_sec is None else self._hold_sec
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            await asyncio.sleep(TICK_SEC if self._filler_sent or left <= 0 else min(TICK_SEC, left))
            self.beat()
            if not self._filler_sent and time.monotonic() >= deadline:
                try:
                    if self._hold_sec is not None and await self._earlier_went_on():
                        # Retried while alive (a starved worker): it still speaks, so this is
                        # an ordinary wait, with the soft timeout's filler.
                        self._hold_sec = None
                        deadline = time.monotonic() + soft_timeout_sec
                        continue
                    await self._filler()
                except Exception as exc:  # the filler is a nicety: never fail the turn on it
                    activity.logger.warning("filler not sent: %s", exc)

    async def _earlier_went_on(self) -> bool:
        known = len(self._earlier)
        await self._load_earlier()
        return len(self._earlier) > known

    async def _filler(self) -> None:
        # Also on a retry that is slow to say more than the dead attempt did: the caller has
        # heard nothing new for the soft timeout, or since the dead attempt's last sentence
        # ("hold", shorter, fits mid-answer). Once per iteration, whatever the attempts.
        async with self._lock:
            if self._fresh or self._filler_sent:
                return
            self._filler_sent = True
            name = "timeout_loading" if self._hold_sec is None else "hold"
            await self._append("filler", FILLER_INDEX, phrase(name, self._input.call), Style.NONE)
            self.beat()

    async def _append(
        self, kind: Literal["sentence", "filler"], index: int, text: str, style: Style
    ) -> Appended:
        """Append unless this key already was; the text the stream holds for it."""
        call = self._input.call
        event = SentenceEvent(
            turn_id=self._input.turn_id,
            iteration=self._input.iteration,
            index=index,
            kind=kind,
            text=text,
            style=style,
            lang=call.lang.short_code,
            rate=call.speech_rate,
        )
        try:
            found = await self._sink.append_once(call.call_id, event)
        except Exception:
            self.beat()
            await asyncio.sleep(FLUSH_HEARTBEAT_SEC)
            raise
        if not found.new:
            activity.logger.info("sentence %s of an earlier attempt not appended again", index)
        return found

    async def filtered(self, model: str) -> LlmTurnResult:
        await self.settle()
        return LlmTurnResult(
            content=" ".join(self.texts),
            finish_reason="content_filter",
            model=model,
            content_filtered=True,
            sentences=self.count,
        )


class _Attempt:
    """One streamed completion from one model."""

    def __init__(
        self, model: ChatModel, input: LlmTurnInput, speaker: _Speaker, offered: frozenset[str]
    ) -> None:
        self._model = model
        self._input = input
        self._speaker = speaker
        self._offered = offered
        self._splitter = SentenceSplitter()
        self._calls = _ToolCallBuffer()
        self._usage: TokenUsage | None = None  # the stream's usage chunk, when it sends one

    async def run(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, max_tokens: int
    ) -> LlmTurnResult:
        finish = "stop"
        stream = self._model.stream(
            messages, tools, user=self._input.call.call_id, max_tokens=max_tokens
        )
        try:
            async for chunk in stream:
                self._speaker.beat()
                if chunk.text:
                    await self._say(self._splitter.feed(chunk.text))
                self._calls.add(chunk.tool_calls)
                finish = chunk.finish_reason or finish
                if self._speaker.full:
                    break  # the policy keeps nothing more: free the model for the next turn
                self._usage = chunk.usage or self._usage
        finally:
            # Closes the HTTP response now, also on cancellation (barge-in) or a Redis error.
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()
        if finish == "content_filter":
            return await self._speaker.filtered(self._model.name)
        await self._say(self._splitter.flush())
        raw = self._calls.finish() or [("", n, a) for n, a in self._splitter.text_tool_calls]
        calls = _clean_calls(raw, self._input, self._offered)
        await self._speaker.settle()
        if not self._speaker.count:
            # Only without text: speaking both said the same thing twice (reference #406).
            await self._say(_customer_responses(calls))
        if not self._input.tools_enabled and calls:
            activity.logger.warning("tools disabled, dropped %s", [c.name for c in calls])
            calls = []
        return LlmTurnResult(
            content=" ".join(self._speaker.texts),
            style=self._splitter.style,
            tool_calls=calls,
            finish_reason=finish,
            model=self._model.name,
            sentences=self._speaker.count,
            usage=_tokens(self._model.name, self._usage),
        )

    async def _say(self, sentences: list[str]) -> None:
        for sentence in sentences:
            await self._speaker.say(sentence, self._splitter.style)


def _tokens(model: str, usage: TokenUsage | None) -> list[LlmTokens]:
    """The completion's tokens for the call's usage (none when the server sent no count)."""
    if usage is None:
        return []
    return [
        LlmTokens(
            model=model,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_prompt_tokens=usage.cached_prompt_tokens,
            requests=1,
        )
    ]


@dataclass
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: str = ""


class _ToolCallBuffer:
    """Tool-call deltas accumulated by index."""

    def __init__(self) -> None:
        self._calls: list[_PendingCall] = []
        self._by_index: dict[int, _PendingCall] = {}

    def add(self, deltas: tuple[ToolCallDelta, ...]) -> None:
        for delta in deltas:
            call = self._by_index.get(delta.index)
            # Some local servers send every call at index 0: a new id there is a new call.
            if call is None or (delta.id and call.id and delta.id != call.id and call.name):
                call = self._by_index[delta.index] = _PendingCall()
                self._calls.append(call)
            if delta.id:  # an empty id on a later fragment never erases the known one
                call.id = delta.id
            if delta.name:
                call.name = delta.name
            call.arguments += delta.arguments

    def finish(self) -> list[tuple[str, str, str]]:
        return [(c.id, c.name, c.arguments) for c in self._calls if c.name]


def _clean_calls(
    raw: list[tuple[str, str, str]], input: LlmTurnInput, offered: frozenset[str]
) -> list[LlmToolCallRequest]:
    """Expand parallel calls, drop unknown and repeated ones, repair arguments, ensure ids."""
    out: list[LlmToolCallRequest] = []
    seen: set[tuple[str, str]] = set()
    for call_id, name, arguments in _expand_parallel(raw):
        if name not in offered:
            activity.logger.warning("dropped call to unknown tool %r", name)
            continue
        arguments = normalise_arguments(arguments)
        key = (name, json.dumps(json.loads(arguments), sort_keys=True))
        if key in seen:
            continue
        seen.add(key)
        if not call_id or any(c.id == call_id for c in out):
            call_id = f"call_{input.turn_id}_{input.iteration}_{len(out)}"
        out.append(LlmToolCallRequest(id=call_id, name=name, arguments=arguments))
    return out


def _expand_parallel(raw: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    out = []
    for call_id, name, arguments in raw:
        if name != PARALLEL:
            out.append((call_id, name.removeprefix("functions."), arguments))
            continue
        uses = json.loads(normalise_arguments(arguments)).get("tool_uses")
        for n, use in enumerate(uses if isinstance(uses, list) else []):
            if not isinstance(use, dict):
                continue
            params = use.get("parameters", {})
            out.append(
                (
                    f"{call_id}_{n}" if call_id else "",
                    str(use.get("recipient_name", "")).removeprefix("functions."),
                    params if isinstance(params, str) else json.dumps(params, ensure_ascii=False),
                )
            )
    return out


def _customer_responses(calls: list[LlmToolCallRequest]) -> list[str]:
    """The tools' `customer_response` sentences, each said once."""
    out: list[str] = []
    seen: set[str] = set()
    for call in calls:
        text = json.loads(call.arguments).get("customer_response")
        if not isinstance(text, str) or not text.strip():
            continue
        splitter = SentenceSplitter()
        for sentence in [*splitter.feed(text), *splitter.flush()]:
            key = sentence.casefold()
            if key not in seen:
                seen.add(key)
                out.append(sentence)
    return out
