"""The small-model policy's turn, composed in pure code around a model used only to phrase.

A model of about a billion parameters refuses, parrots, invents values and asks two questions
at once (measured: evals/README.md). With guardrails, this module decides the whole turn:

- every fact of the caller's turn is stored in its field (`guardrails.extract_facts`);
- a request is acted on without the model: goodbye and a person (the workflow's own phrases),
  a call back with its time (a reminder), a language (the switch, then a confirmation in it);
- an attempt to break the bot's instructions is declined, small talk is set aside, a question
  gets its answer from a template (the bot's name, how long, what happens next, ...);
- otherwise the model is asked for one sentence acknowledging the turn, kept only when it is
  usable (`unusable`), else a template acknowledgement is said;
- the turn ends with the question for the next missing field, one question, never one about
  a field already stored, worded differently when asked again (`phrasing`).
"""

from __future__ import annotations

import json
import re

from domain.call import CallState, Message, Persona
from domain.claim import ClaimField, ClaimFieldType, FieldUpdate, parse_datetime
from domain.contracts import LlmToolCallRequest, LlmTurnInput
from domain.guardrails import (
    ASK_FIRST,
    Intent,
    ask_order,
    asks_for,
    caller_intent,
    extract_facts,
    requested_tool,
    with_updates,
)
from domain.guardrails.lang import LANGUAGES
from domain.guardrails.text import WORD_RE, fold, heard, is_caller_turn
from domain.guardrails.words import pattern
from domain.phone import timezone_for
from domain.prompts import SMALL_TOOLS, called_back
from domain.tools import TOOL_NAMES, ToolName
from domain.turn import phrasing
from domain.turn.phrasing import pick, said_before
from domain.turn.plan import TurnPlan

# A 0.5B model acknowledges in 1-2 s on a free CPU core; on a loaded one it can take minutes
# (measured: 0.3 tokens/s at load 20). Past this, the template acknowledgement is said.
ACK_BUDGET_S = 8.0
# One short sentence (at most `MAX_WORDS` words) fits; a longer answer is never spoken anyway.
ACK_MAX_TOKENS = 48

_LEAVING = pattern("leaving")


def compose(input: LlmTurnInput) -> TurnPlan | None:
    """The turn as this policy plays it, or None to leave it to the plain small policy (a
    hand-off's next iteration, the last iteration without tools)."""
    call = input.call
    if not input.tools_enabled or not call.messages:
        return None
    last = call.messages[-1]
    if not is_caller_turn(last):
        return _after_intent(input)
    tz = timezone_for(call.initiate.phone_number)
    intent = caller_intent(call, last.created_at, tz)
    telling = intent is None or intent.kind in ("question", "callback", "callback_when")
    prefill = extract_facts(call, asks=lambda f, text: _asks(f, call, text), tell=telling)
    stored = with_updates(call, prefill)
    offered = frozenset(TOOL_NAMES - set(input.blacklist))

    def plan(
        *, intent: list[LlmToolCallRequest] | None = None, say: list[str] | None = None
    ) -> TurnPlan:
        return TurnPlan(
            call=stored,
            offered=offered & SMALL_TOOLS,
            prefill=prefill,
            intent=intent or [],
            answer_without_model=intent is not None or say is not None,
            profile="small",
            schemas=False,
            slot_hint=True,
            say=tuple(say or ()),
            model_sentences=None if intent is not None or say is not None else 1,
            ack_only=True,
            model_budget_s=ACK_BUDGET_S,
            max_tokens=ACK_MAX_TOKENS,
        )

    def act(name: ToolName, **arguments: str) -> list[LlmToolCallRequest]:
        call_id = f"guardrail_{input.turn_id}_{input.iteration}_intent"
        return [LlmToolCallRequest(id=call_id, name=name, arguments=json.dumps(arguments))]

    wanted = requested_tool(call)
    if wanted is not None and wanted in offered:
        # The workflow says its goodbye or its transfer notice: no model, no question.
        return plan(intent=act(wanted))
    if intent is None:
        return plan()  # the model acknowledges; `closing` asks the next question
    if intent.kind == "callback" and ToolName.NEW_OR_UPDATED_REMINDER in offered:
        who = stored.claim.get("policyholder_name") or "the caller"
        return plan(
            intent=act(
                ToolName.NEW_OR_UPDATED_REMINDER,
                title=f"Call back {who}",
                description="The caller asked to be called back at this time.",
                due_date_time=intent.detail,
            )
        )
    if intent.kind == "language" and ToolName.SPEECH_LANG in offered:
        return plan(intent=act(ToolName.SPEECH_LANG, lang=intent.detail))
    said = said_before(call)
    if intent.kind == "callback_when":
        return plan(say=[pick("callback_when", call, said)])
    sentences = _answer(intent, stored, prefill, said)
    sentences.append(_next_question(stored, said))
    return plan(say=sentences)


def _asks(field: ClaimField, call: CallState, text: str) -> bool:
    return phrasing.asks_field(field, call, text) or asks_for(field, text)


def _answer(
    intent: Intent, call: CallState, prefill: list[FieldUpdate], said: set[str]
) -> list[str]:
    """What the bot says to the caller's request or question, before its own question."""
    out: list[str] = []
    when = _noted_when(call, prefill, said)
    match intent.kind:
        case "no_prompt":
            out.append(pick("no_prompt", call, said))
        case "decline":
            out.append(pick("decline", call, said))
        case "small_talk":
            # The topic is said back in English only ("the rain"); elsewhere "that" in the language.
            lang = phrasing.lang_of(call)
            topic = phrasing.topic_of(intent.detail) if lang == "en" else ""
            topic = topic or phrasing.variants("that", lang)[0]
            out.append(pick("small_talk", call, said, topic=topic))
        case "question" if intent.detail == "advice":
            medical = re.search(
                r"\b(medic\w*|doctor|patient|clinic\w*|health|hospital)\b",
                fold(call.initiate.task),
            )
            out.append(pick("medical_advice" if medical else "advice", call, said))
        case "question" if intent.detail:
            out.append(pick(intent.detail, call, said))
        case _:
            if when is None:
                out.append(pick("question", call, said))
    if prefill and when is None and intent.kind != "question":
        out.insert(0, pick("ack", call, said))
    if when is not None:
        out.append(when)
    return out


def _noted_when(call: CallState, prefill: list[FieldUpdate], said: set[str]) -> str | None:
    """ "I've noted Thursday, December 10 at 9:00." for a date the turn gave, else None."""
    kinds = {f.name: f.type for f in call.claim_schema()}
    for update in prefill:
        if kinds.get(update.field) is ClaimFieldType.DATETIME:
            tz = timezone_for(call.initiate.phone_number)
            raw = str(update.value)
            value = parse_datetime(raw, tz)
            timed = " " in raw.strip() or "T" in raw
            text = phrasing.say_date(value, call, with_time=timed)
            return pick("noted_when", call, said, when=text)
    return None


def next_field(call: CallState) -> ClaimField | None:
    """The field to ask for next: a call's own schema first (the task's fields, in order),
    then who the caller is; the default claim in its fixed order (`ask_order`). A field asked
    MAX_ASKS times without an answer is left for the advisor: the bot moves on."""
    if not any(f.name in ASK_FIRST for f in call.initiate.claim):
        own = [f for f in call.claim_schema() if f.name not in POLICYHOLDER_NAMES]
        first = [*own, *(f for f in call.claim_schema() if f.name in POLICYHOLDER_NAMES)]
    else:
        first = ask_order(call)
    missing = [f for f in first if not call.claim.get(f.name)]
    asked = [m.content for m in call.messages if m.persona is Persona.ASSISTANT and m.content]
    return next(
        (f for f in missing if sum(phrasing.asks_field(f, call, a) for a in asked) < MAX_ASKS),
        None,
    )


MAX_ASKS = 3


POLICYHOLDER_NAMES = ("policyholder_name", "policyholder_email", "policyholder_phone")


def _next_question(call: CallState, said: set[str]) -> str:
    field = next_field(call)
    if field is None:
        return pick("anything_else", call, said)
    return phrasing.question(field, call, said)


def closing(plan: TurnPlan, content: str) -> str:
    """After the model's acknowledgement (`content`, maybe empty): a template one when the
    model said nothing usable, then the question for the next missing field."""
    call = plan.call
    said = said_before(call)
    sentences = []
    if plan.handed_over:
        return "" if content.strip() else pick("handed_over", call, said)
    if not content.strip():
        first = sum(is_caller_turn(m) for m in call.messages) == 1
        key = "ack_sorry" if first and plan.prefill else "ack" if plan.prefill else "ack_nothing"
        sentences.append(pick(key, call, said))
    sentences.append(_next_question(call, said))
    return " ".join(sentences)


def _after_intent(input: LlmTurnInput) -> TurnPlan | None:
    """The iteration after the policy's own reminder or language switch: confirm it (in the
    new language) and ask the next question, without the model."""
    call = input.call
    last = call.messages[-1]
    if last.persona is not Persona.ASSISTANT or last.turn_id != input.turn_id:
        return None
    ours = [c for c in last.tool_calls if c.tool_id.startswith("guardrail_")]
    ours = [c for c in ours if c.tool_id.endswith("_intent")]
    if not ours:
        return None
    if ours[-1].function_name == ToolName.TALK_TO_HUMAN:
        # The model may say a word while the caller waits; no question follows a hand-off.
        return TurnPlan(
            call=call,
            offered=frozenset(),
            prefill=[],
            intent=[],
            answer_without_model=False,
            profile="small",
            schemas=False,
            slot_hint=True,
            model_sentences=1,
            handed_over=True,
            ack_only=True,
            model_budget_s=ACK_BUDGET_S,
            max_tokens=ACK_MAX_TOKENS,
        )
    said = said_before(call)
    sentences: list[str] = []
    done = ours[-1]
    ok = not (done.content or "").startswith("Error")
    if done.function_name == ToolName.NEW_OR_UPDATED_REMINDER:
        reminder = call.reminders[-1] if call.reminders and ok else None
        if reminder is None:
            sentences.append(pick("callback_when", call, said))
            return _spoken(call, sentences)
        when = phrasing.say_when(reminder.due_date_time, call)
        sentences.append(pick("callback", call, said, when=when))
        if _LEAVING.search(fold(_caller_turn(call))):
            sentences.append(pick("callback_bye", call, said))
            return _spoken(call, sentences)
    elif done.function_name == ToolName.SPEECH_LANG and ok:
        sentences.append(pick("lang_switch", call, said))
    elif done.function_name not in (ToolName.NEW_OR_UPDATED_REMINDER, ToolName.SPEECH_LANG):
        return None
    sentences.append(_next_question(call, said))
    return _spoken(call, sentences)


def _spoken(call: CallState, sentences: list[str]) -> TurnPlan:
    return TurnPlan(
        call=call,
        offered=frozenset(),
        prefill=[],
        intent=[],
        answer_without_model=True,
        profile="small",
        schemas=False,
        slot_hint=True,
        say=tuple(sentences),
    )


def _caller_turn(call: CallState) -> str:
    return next((m.content for m in reversed(call.messages) if is_caller_turn(m)), "")


# --- the model's sentence --------------------------------------------------------------------

_ASKING = re.compile(
    r"^(what|when|where|who|which|how|could|can|would|may|do|did|is|are|please|kindly|let me"
    r" know)\b|\b(provide|tell me|share|give me|let me know|can you|could you)\b"
)
_NOT_SPOKEN = re.compile(
    r"[{}<>_#*]|\b(tool|function|json|prompt|instruction\w*|system|assistant|ai|model|claim"
    r" field|filed|submitted|approved|processed|refund\w*|compensat\w*|guarantee\w*|hello|hi"
    r"|welcome)\b"
    # The model narrating the call ("The customer has provided additional information"):
    # a caller is spoken to, never about.
    r"|\bthe (customer|caller|user|client|policyholder)\b"
)
_FRENCH = frozenset("je vous est les une pas c'est merci avec pour dans votre le la".split())
# Each language's words that English never uses, and its common short words (folded).
_OWN = {
    lang: frozenset(words["own"]) | frozenset(words["stopwords"])
    for lang, words in LANGUAGES.items()
}
MAX_WORDS = 18


_GREETING = re.compile(r"\b(welcome|hello|hi)\b")


def _greeting_allowed(text: str, call: CallState) -> str:
    """A caller who just called back is welcomed back by the model (the turn of the resume):
    its greeting words are fine there, never elsewhere."""
    return _GREETING.sub("", text) if called_back(call) else text


def unusable(sentence: str, call: CallState, said: list[str]) -> bool:
    """A sentence of the model the small policy never speaks: anything but one short
    statement in the call's language, with no value the caller did not say, no question, no
    request, no promise, no tool or prompt words, said at most once per turn."""
    if said:
        return True  # one sentence of the model per turn: the rest is the bot's own
    text = fold(sentence).strip()
    words = WORD_RE.findall(text)
    if "?" in text or not 2 <= len(words) <= MAX_WORDS:
        return True
    if _ASKING.search(text) or _NOT_SPOKEN.search(_greeting_allowed(text, call)):
        return True
    caller = heard(" ".join(m.content for m in call.messages if is_caller_turn(m)))
    if any(re.search(r"\d", w) and w not in caller for w in WORD_RE.findall(heard(sentence))):
        return True  # a number the caller never said: invented
    own = {fold(w) for w in (call.initiate.bot_name, call.initiate.bot_company)}
    # German capitalises every noun: a capital there says nothing of a name.
    capitalised = (
        [] if phrasing.lang_of(call) == "de" else re.findall(r"(?<=\s)[A-Z][a-z]+", sentence)
    )
    for name in capitalised:
        if fold(name) not in caller and fold(name) not in own:
            return True  # a name the caller never said (the model's "John")
    spoken = re.findall(r"[\w']+", text)
    lang = phrasing.lang_of(call)
    if lang in ("en", "fr"):
        french = sum(w in _FRENCH for w in spoken)
        return (lang == "fr") != (french >= 1)
    # Another language: the sentence has at least one word of its own.
    return not any(w in _OWN[lang] for w in spoken)


def message_said(message: Message) -> bool:
    return message.persona is Persona.ASSISTANT and bool(message.content)
