"""Tool-call accuracy of the local LLM, without and with the guardrails, and time per turn.

Starts the real llama.cpp server (`core/llm_server.py`), then for each of the fixed caller
turns below runs what a call runs: the `llm_turn` activity (prompt, streaming through the
project's OpenAI client, the text tool-call parser) and the workflow's tool code on a copy of
the call (`workflows.call_tools`: grounding, intents, the answers the guardrails store). A turn
is right when exactly the expected claim fields were stored with the expected values and
exactly the expected other tools ran; "no tool" turns are right when nothing happened.

    python bench/tool_accuracy.py [--model FILE.gguf] [--chat-template qwen2.5] [--threads 2]
                                  [--configs raw small guarded] [--only NAME ...] [-v]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from activities.llm import LlmActivities
from bench._report import pct  # noqa: E402
from core.llm_server import local_llm_model, running_llm_server
from core.redis_server import free_port
from core.settings import LlmModelSettings, LlmSettings
from domain.call import CallInitiate, CallState, Message, Persona, Reminder
from domain.contracts import (
    EmergencyInput,
    EmergencyResult,
    LlmTurnInput,
    LlmTurnResult,
    SearchInput,
    SearchResult,
    SendSmsInput,
    SendSmsResult,
    SentenceEvent,
)
from domain.guardrails import asks_for, next_missing_field
from domain.prompts import Profile, phrase
from providers.llm.openai_chat import OpenAiChat
from workflows.call_tools import ToolPorts, run_tool, store_answers

CALLER = "+33612345678"
TZ = ZoneInfo("Europe/Paris")
# (name, profile, guardrails): the model as the project used it, the small prompt alone, and
# the small prompt with the guardrails.
CONFIGS: dict[str, tuple[Profile, bool]] = {
    "raw": ("full", False),
    "small": ("small", False),
    "guarded": ("small", True),
    "full+guard": ("full", True),
}


@dataclass
class Case:
    """One caller turn and what must come out of it."""

    name: str
    said: str
    bot: str = ""  # what the bot said just before (the greeting when empty)
    fields: dict[str, str] = field(default_factory=dict)  # field -> regex the value must match
    may: dict[str, str] = field(default_factory=dict)  # fields that may be stored, if they match
    tools: frozenset[str] = frozenset()  # other tools that must run
    claim: dict[str, str] = field(default_factory=dict)  # stored before the turn
    held_out: bool = False  # written after the guardrails were tuned on the others


def _day(days_ago: int) -> str:
    return (datetime.now(TZ).date() - timedelta(days=days_ago)).isoformat()


def _dated(year_month_day: date) -> str:
    return year_month_day.isoformat()


def cases() -> list[Case]:
    nov3 = date(datetime.now(TZ).year, 11, 3)
    if nov3 > datetime.now(TZ).date():
        nov3 = nov3.replace(year=nov3.year - 1)
    name = {"policyholder_name": "Jean Dupont"}
    return [
        Case(
            "report",
            "Hi, I want to report a car accident.",
            may={"incident_description": "accident"},
        ),
        Case(
            "description",
            "A truck rear-ended me while I was stopped at a red light.",
            bot="I'm sorry to hear that. What happened?",
            fields={"incident_description": "truck|rear"},
        ),
        Case(
            "name",
            "Sure, it's Jean Dupont.",
            bot="Could I have your full name, please?",
            fields={"policyholder_name": "^Jean Dupont$"},
        ),
        Case(
            "policy",
            "It's POL-889-221.",
            bot="Thank you. What is your policy number?",
            fields={"policy_number": "^POL-?889-?221$"},
            claim=name,
        ),
        Case(
            "when_relative",
            "Yesterday at 5 pm.",
            bot="When did the accident happen?",
            fields={"incident_datetime": f"^{_day(1)}T17:00"},
            claim=name,
        ),
        Case(
            "when_explicit",
            "It was on November 3rd, around 8:30 in the morning.",
            bot="When did the accident happen?",
            fields={"incident_datetime": f"^{_dated(nov3)}T08:30"},
            claim=name,
        ),
        Case(
            "where",
            "On the A6 motorway near Lyon, at exit 33.",
            bot="Where did it happen?",
            fields={"incident_location": "Lyon"},
            claim=name,
        ),
        Case(
            "email",
            "Yes, it's jean.dupont@example.com.",
            bot="Can I have your email address?",
            fields={"policyholder_email": "^jean.dupont@example.com$"},
            claim=name,
        ),
        Case(
            "email_spoken",
            "It's marie dot curie at gmail dot com.",
            bot="Could you spell your email, please?",
            fields={"policyholder_email": "^marie.curie@gmail.com$"},
        ),
        Case(
            "phone",
            "You can reach me at 06 98 76 54 32.",
            bot="What number can we reach you at?",
            fields={"policyholder_phone": r"^\+33698765432$"},
            claim=name,
        ),
        Case(
            "injuries",
            "My neck hurts a bit, but nothing serious.",
            bot="Was anyone injured?",
            fields={"injuries": "neck"},
        ),
        Case(
            "no_injuries",
            "No, nobody was hurt.",
            bot="Was anyone injured?",
            fields={"injuries": r"\bno|none"},
        ),
        Case(
            "other_party",
            "A white delivery truck, the plate was AB-123-CD.",
            bot="Who else was involved?",
            fields={"involved_parties": "AB-?123-?CD|truck"},
        ),
        Case(
            "witness",
            "Yes, Marie Curie saw everything, she was driving behind me.",
            bot="Were there any witnesses?",
            fields={"witnesses": "Marie Curie"},
        ),
        Case(
            "name_and_policy",
            "Jean Dupont, and my policy number is POL-889-221.",
            bot="Can I have your name and your policy number?",
            fields={"policyholder_name": "^Jean Dupont$", "policy_number": "^POL-?889-?221$"},
        ),
        Case("human", "I want to talk to a real person.", tools=frozenset({"talk_to_human"})),
        Case(
            "angry_human",
            "This is ridiculous, get me an agent right now!",
            bot="Could you tell me your policy number?",
            tools=frozenset({"talk_to_human"}),
        ),
        Case("office_hours", "What are your office hours?"),
        Case("small_talk", "How are you doing today?"),
        Case(
            "no_data",
            "I don't have it with me right now.",
            bot="What is your policy number?",
            claim=name,
        ),
        Case(
            "goodbye",
            "No, that's all. Goodbye!",
            bot="Your claim is recorded. Is there anything else I can do for you?",
            tools=frozenset({"end_call"}),
            claim=name,
        ),
        Case("got_hurt", "I got hurt in the accident.", may={"injuries": "hurt"}),
        Case(
            "thanks",
            "Okay, thank you.",
            bot="I have noted your email address.",
            claim={**name, "policyholder_email": "jean.dupont@example.com"},
        ),
        Case(
            "unsure_when",
            "I'm not sure, sometime last week.",
            bot="When did the accident happen?",
            claim=name,
        ),
        *held_out(name),
    ]


def held_out(name: dict[str, str]) -> list[Case]:
    """Turns added once the guardrails were tuned on the cases above, to see them generalise."""
    cases = [
        Case(
            "ho_where",
            "At the corner of Main Street and 5th Avenue.",
            bot="Where did the accident happen?",
            fields={"incident_location": "Main Street"},
            claim=name,
        ),
        Case(
            "ho_when",
            "Around 7 this evening.",
            bot="When did it happen?",
            fields={"incident_datetime": f"^{_day(0)}T19:00"},
            claim=name,
        ),
        Case(
            "ho_phone",
            "My number is plus 33 6 11 22 33 44.",
            bot="What's the best number to reach you?",
            fields={"policyholder_phone": r"^\+33611223344$"},
            claim=name,
        ),
        Case(
            "ho_description",
            "The other driver ran a stop sign and hit my passenger door.",
            bot="Can you describe what happened?",
            fields={"incident_description": "stop sign|passenger door"},
        ),
        Case(
            "ho_witnesses",
            "Two people saw it, a cyclist and a woman at the bus stop.",
            bot="Did anyone witness the accident?",
            fields={"witnesses": "cyclist|woman"},
        ),
        Case("ho_hold_on", "Can you hold on a second?", bot="What is your email address?"),
        Case(
            "ho_advisor",
            "Please connect me with an advisor.",
            bot="When did it happen?",
            tools=frozenset({"talk_to_human"}),
        ),
        Case(
            "ho_injury",
            "My wife had a small cut on her arm.",
            bot="Was anyone injured?",
            fields={"injuries": "cut|arm"},
        ),
        Case(
            "ho_policy",
            "It's 4471-AZ-92.",
            bot="What's your policy number?",
            fields={"policy_number": "^4471-?AZ-?92$"},
            claim=name,
        ),
        Case(
            "ho_bye",
            "Thanks for your help, bye.",
            bot="Your claim is complete. Anything else?",
            tools=frozenset({"end_call"}),
            claim=name,
        ),
        Case(
            "ho_already_given",
            "I think I already gave you my policy number.",
            bot="What is your policy number?",
            claim=name,
        ),
        Case("ho_towing", "Is my car covered for towing?", bot="How can I help you further?"),
    ]
    return [_held(c) for c in cases]


def _held(case: Case) -> Case:
    case.held_out = True
    return case


# --- running one turn as a call would --------------------------------------------------


class Sink:
    """The sentence stream, in memory: when the first sentence came."""

    def __init__(self) -> None:
        self.first_at: float | None = None

    async def append(self, call_id: str, event: SentenceEvent) -> str:
        del call_id
        if event.kind == "sentence" and self.first_at is None:
            self.first_at = time.perf_counter()
        return "0-0"


def new_call(case: Case) -> CallState:
    now = datetime.now(UTC)
    initiate = CallInitiate(
        phone_number=CALLER, bot_company="Contoso", bot_name="Amélie", agent_phone_number=CALLER
    )
    call = CallState(call_id=f"bench-{case.name}", created_at=now, initiate=initiate)
    call.claim = dict(case.claim)
    call.messages = [
        Message(created_at=now, persona=Persona.ASSISTANT, content=phrase("hello", call)),
    ]
    if case.bot:
        call.messages += [
            Message(created_at=now, persona=Persona.HUMAN, content="I'm calling about my car."),
            Message(created_at=now, persona=Persona.ASSISTANT, content=case.bot),
        ]
    call.messages.append(Message(created_at=now, persona=Persona.HUMAN, content=case.said))
    return call


@dataclass
class Outcome:
    case: Case
    ok: bool
    seconds: float
    first_sentence: float | None
    stored: dict[str, str]
    tools: set[str]
    said: str
    raw_calls: list[str]
    wrong_values: int
    asks_next: bool | None  # the reply asks for the next missing field (None: no reply due)


async def run_case(case: Case, activities: LlmActivities, sink: Sink) -> Outcome:
    call = new_call(case)
    before = dict(call.claim)
    sink.first_at = None
    started = time.perf_counter()
    result: LlmTurnResult = await ActivityEnvironment().run(
        activities.llm_turn, LlmTurnInput(call=call, turn_id=1, iteration=0)
    )
    seconds = time.perf_counter() - started
    first = sink.first_at - started if sink.first_at is not None else None
    tools = await apply_like_the_workflow(call, result)
    stored = {k: v for k, v in call.claim.items() if v and before.get(k) != v}
    following = next_missing_field(call)
    asks_next = None if tools or following is None else asks_for(following, result.content)
    return Outcome(
        case=case,
        ok=is_right(case, stored, tools),
        seconds=seconds,
        first_sentence=first,
        stored=stored,
        tools=tools,
        said=result.content,
        raw_calls=[f"{c.name}{c.arguments}" for c in result.tool_calls],
        wrong_values=sum(1 for k, v in stored.items() if not _expected(case, k, v)),
        asks_next=asks_next,
    )


async def apply_like_the_workflow(call: CallState, result: LlmTurnResult) -> set[str]:
    """Store the guardrails' answers and run the model's tool calls; return the tools that ran."""
    ran: set[str] = set()
    if result.prefill:
        store_answers(call, result.prefill, "guardrail")

    async def end_call() -> str:
        ran.add("end_call")
        return "Call ended."

    async def talk_to_human() -> str:
        ran.add("talk_to_human")
        return "Transfer started."

    async def send_sms(input: SendSmsInput) -> SendSmsResult:
        del input
        return SendSmsResult(message_id="bench", delivered=True)

    async def search(input: SearchInput) -> SearchResult:
        del input
        return SearchResult(text="<documents></documents>", count=0)

    async def emergency(input: EmergencyInput) -> EmergencyResult:
        del input
        return EmergencyResult(notified=True)

    async def schedule_reminder(reminder: Reminder) -> None:
        del reminder

    ports = ToolPorts(
        now=lambda: datetime.now(UTC),
        end_call=end_call,
        talk_to_human=talk_to_human,
        send_sms=send_sms,
        search=search,
        emergency=emergency,
        schedule_reminder=schedule_reminder,
        guardrails=result.guardrails,
    )
    for request in result.tool_calls:
        outcome = await run_tool(call, request.name, request.arguments, ports)
        if request.name not in ("updated_claim", "end_call", "talk_to_human"):
            if not outcome.startswith("Error"):
                ran.add(request.name)
    return ran


def _expected(case: Case, name: str, value: str) -> bool:
    pattern = case.fields.get(name) or case.may.get(name)
    return pattern is not None and re.search(pattern, value, re.IGNORECASE) is not None


def is_right(case: Case, stored: dict[str, str], tools: set[str]) -> bool:
    if tools != set(case.tools):
        return False
    if not set(case.fields) <= set(stored):
        return False
    return all(_expected(case, k, v) for k, v in stored.items())


# --- the table ---------------------------------------------------------------------------


def row(config: str, outcomes: list[Outcome]) -> str:
    tool_turns = [o for o in outcomes if o.case.fields or o.case.tools]
    quiet = [o for o in outcomes if not (o.case.fields or o.case.tools)]
    times = [o.seconds for o in outcomes]
    firsts = [o.first_sentence for o in outcomes if o.first_sentence is not None]

    def score(items: list[Outcome]) -> str:
        right = sum(o.ok for o in items)
        return f"{right}/{len(items)} ({100 * right / max(len(items), 1):.0f}%)"

    wrong = sum(o.wrong_values for o in outcomes)
    held = [o for o in outcomes if o.case.held_out]
    replies = [o.asks_next for o in outcomes if o.asks_next is not None]
    asks = f"{sum(replies)}/{len(replies)}"
    first = f"{statistics.median(firsts):.2f}" if firsts else "-"
    return (
        f"| {config} | {score(outcomes)} | {score(tool_turns)} | {score(quiet)} |"
        f" {score(held)} | {wrong} | {asks} |"
        f" {statistics.median(times):.2f} | {pct(times, 0.95):.2f} | {first} |"
    )


HEADER = (
    "| config | all turns right | tool turns right | no-tool turns right | held-out right |"
    " wrong values stored | reply asks the next field | turn p50 s | turn p95 s |"
    " first sentence p50 s |\n|---|---|---|---|---|---|---|---|---|---|"
)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--chat-template", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--configs", nargs="+", default=["raw", "small", "guarded"])
    parser.add_argument("--only", nargs="+", default=None)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    model = args.model or local_llm_model()
    selected = [c for c in cases() if not args.only or c.name in args.only]
    port = free_port()
    print(f"model {model.name}, {args.threads} threads, {len(selected)} turns", flush=True)
    log = (ROOT / "var" / "llm-server-bench.log").open("wb") if (ROOT / "var").is_dir() else None
    rows = []
    async with running_llm_server(
        model,
        host="127.0.0.1",
        port=port,
        threads=args.threads,
        chat_template=args.chat_template,
        log=log,
    ) as base_url:
        for config in args.configs:
            profile, guardrails = CONFIGS[config]
            model_settings = LlmModelSettings(
                endpoint=base_url, model="local", context_tokens=4096, request_timeout_sec=120
            )
            settings = LlmSettings(
                fast=model_settings,
                slow=model_settings,
                attempts_per_model=1,
                profile=profile,
                guardrails=guardrails,
            )
            chat = OpenAiChat(model_settings)
            sink = Sink()
            activities = LlmActivities(chat, chat, sink, settings)
            await run_case(selected[0], activities, sink)  # warm-up: the prompt's prefix cached
            outcomes = []
            for case in selected:
                outcome = await run_case(case, activities, sink)
                outcomes.append(outcome)
                if args.verbose:
                    mark = "ok " if outcome.ok else "BAD"
                    print(
                        f"  [{config}] {mark} {case.name}: {outcome.seconds:.1f}s stored="
                        f"{json.dumps(outcome.stored)} tools={sorted(outcome.tools)}"
                        f" calls={outcome.raw_calls} said={outcome.said!r}",
                        flush=True,
                    )
            await chat.aclose()
            rows.append(row(config, outcomes))
            print(rows[-1], flush=True)
    if log is not None:
        log.close()
    print()
    print(HEADER)
    print("\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
