"""Scores of one played scenario, and their totals. Pure code over what the call recorded.

Every metric is a heuristic over text; each is defined here, once:

- **claim right / given**: a value the caller gave (a line's `gives`, corrections overriding)
  counts right when the final claim (`GET /call/{id}`) holds a matching value. Matching by the
  field's type: email case-insensitive; phone by its last 9 digits; datetime by the date (and the
  hour and minute when the expected value has a time); text when every content word of the
  expected value (accents, case, punctuation and stop words dropped) is in the stored value and
  the stored value has at most max(6, 2 x expected) extra words. `a | b` lists alternatives.
- **wrong values**: stored, non-empty values that are not right: a wrong value for a given field,
  or any value for a field the caller never gave (invented).
- **re-asked**: bot questions (sentences ending in '?') about a field the caller had already
  given (up to and including the turn answered) or that was stored before the reply; a field is
  recognised by the scenario's `asks` regexes (defaults below), and a confirmation ("is that
  correct?", or one quoting the stored value) is not a re-ask.
- **double questions**: bot turns with two or more questions: two '?' or more, one question
  sentence joining two question words with "and"/"or" ("What is your email and when did...?"),
  or one whose parts (split at "and", "or", commas) ask about different fields ("What is your
  name and employee ID?"; a field's description echoed in its question is one field).
- **refusals/nonsense**: bot sentences that refuse ("I can't assist", "as an AI"...), leak tool
  syntax (`updated_claim`, `{"`, `<tool_call>`, a snake_case field name), echo a phrase twice in
  a row ("hardware info: hardware info"), repeat one word three times, parrot the caller (five
  words or more, 80% of them from the caller's turn), or are empty turns.
- **repeated**: bot sentences of four words or more said before in the same call (greeting
  included), after normalisation.
- **unanswered**: caller turns holding a '?' whose reply does not address it: with the line's
  `answer` regexes, none matches the reply; without, the reply shares no content word (four
  letters or more, not a stop word) with the question sentence.
- **broke instructions**: bot turns matching a scenario's `forbidden` pattern or the global
  prompt-leak patterns, plus claim values matching a `forbidden` pattern (a poem stored as the
  incident).
- **language followed**: after a line that switches language (`lang`), the bot turns whose
  words are mostly in that language (stop-word counts over en, fr, es, de, it, pt, nl) over
  the bot turns after the switch.
- **tools**: expected `end_call` (the call ended), `transfer` (a handoff), `reminder` (a
  reminder exists), `switch_language` (the call's language changed), or any tool name the
  model called; `forbid_tools` must not have happened.
- **clean**: bot turns with none of the per-turn faults above (a wrong stored value is not
  per turn and is not counted here).
- **done at**: the first caller turn after which every expected value was right (claim read
  after each turn); none when never.
- **latency**: wall time of each `POST /call/{id}/messages`, p50 and p95; **slow**: turns over
  SLOW_TURN_S (on a loaded CPU a local model's answer can pass the call's hard timeout, and the
  call then apologises: those turns measure the machine as much as the model).
"""

from __future__ import annotations

import json
import re
import statistics
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from domain.claim import ClaimField, ClaimFieldType
from evals.scenario import Line, Scenario

STOP_WORDS = frozenset(
    "a an the and or but if of to in on at by for with from is are was were be been am do does "
    "did have has had it its this that these those my your our his her their me you we they i "
    "he she what when where who which how why can could would will shall should may might "
    "please yes no not so just also very there here about as into than then thank thanks "
    "okay ok well sure".split()
)

# Questions that recognise the fields of the default schema and the policyholder ones.
DEFAULT_ASKS: dict[str, list[str]] = {
    "policyholder_name": [r"\bname\b"],
    "policyholder_email": [r"e-?mail"],
    "policyholder_phone": [r"phone|number (can|to|where) we|reach you"],
    "policy_number": [r"policy (number|id)|contract number"],
    "incident_datetime": [r"\bwhen\b|what (day|date|time)"],
    "incident_description": [r"what happened|describe|tell me (more )?about"],
    "incident_location": [r"\bwhere\b|location|address"],
    "injuries": [r"injur|hurt"],
    "involved_parties": [r"involved|other (driver|vehicle|party)"],
    "medical_records": [r"medical"],
    "pre_existing_damages": [r"earlier damage|pre-?existing|damage before"],
    "witnesses": [r"witness"],
}

_REFUSAL = re.compile(
    r"i(?:'m| am) sorry,? but i (?:can(?:'|no)t|am unable)|i can(?:'|no)t (?:assist|help) with"
    r"|i(?:'m| am) (?:not able|unable) to (?:assist|help)|as an ai|language model"
    r"|i (?:do not|don't) have (?:the ability|access)",
    re.IGNORECASE,
)
_TOOL_SYNTAX = re.compile(
    r"updated_claim|end_call|new_or_updated_reminder|talk_to_human|<tool_call>|\{\s*\"|"
    r"\b[a-z]+_[a-z_]+\b(?![\w.]*@)",
)
_ECHO = re.compile(r"\b(\w{4,}|\w+(?: \w+){1,3})\W+\1\b", re.IGNORECASE)
_WORD_RUN = re.compile(r"\b(\w+)(?:\W+\1\b){2,}", re.IGNORECASE)
# The prompt leaking out: the bot recites its rules or names its instructions.
PROMPT_LEAK = re.compile(
    r"system prompt|my (?:instructions|rules|prompt) (?:are|is|say)|\byou are an? (?:ai|"
    r"assistant|agent)\b|\brules?:|\btools?:|#\s*(?:rules|tools|claim)",
    re.IGNORECASE,
)
_CONFIRM = re.compile(r"\b(?:confirm|correct|right|is that|did you say)\b", re.IGNORECASE)
_QWORD = r"(?:what|when|where|who|which|how|could|can|do|did|is|are|was|were|would)"
_TWO_IN_ONE = re.compile(rf",?\s\b(?:and|or)\s+{_QWORD}\b", re.IGNORECASE)
SLOW_TURN_S = 30.0
_PARTS = re.compile(r",|\b(?:and|or)\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")

LANG_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset("the and is you your what when where please thank have did can".split()),
    "fr": frozenset("le la les et est vous votre quel quelle quand merci avez pour une".split()),
    "es": frozenset("el la los y es usted su que cuando donde gracias por una para del".split()),
    "de": frozenset("der die das und ist sie ihr wann wo danke haben eine für nicht".split()),
    "it": frozenset("il lo la gli e è lei suo che quando dove grazie per una della".split()),
    "pt": frozenset("o os e é você seu que quando onde obrigado por uma para não".split()),
    "nl": frozenset("de het en is u uw wat wanneer waar dank voor een niet heeft".split()),
}


def normalise(text: str) -> str:
    """Lower case, no accents, words separated by single spaces."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(re.findall(r"[a-z0-9]+", plain))


def content_words(text: str) -> set[str]:
    return {w for w in normalise(text).split() if w not in STOP_WORDS}


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def questions(text: str) -> list[str]:
    return [s for s in sentences(text) if s.endswith("?")]


def language_of(text: str) -> str | None:
    """The language whose stop words are most frequent in `text`; None under two hits."""
    words = re.findall(r"\w+", text.lower())
    counts = {code: sum(w in vocab for w in words) for code, vocab in LANG_WORDS.items()}
    best = max(counts, key=lambda c: counts[c])
    return best if counts[best] >= 2 else None


# --- claim values -----------------------------------------------------------------------------


def value_matches(expected: str, stored: str | None, kind: ClaimFieldType) -> bool:
    """Whether `stored` is an acceptable value for `expected` (see the module)."""
    if not stored:
        return False
    return any(_one_matches(alt.strip(), stored, kind) for alt in expected.split("|"))


def _one_matches(expected: str, stored: str, kind: ClaimFieldType) -> bool:
    if kind is ClaimFieldType.EMAIL:
        return expected.lower() == stored.strip().lower()
    if kind is ClaimFieldType.PHONE_NUMBER:
        want, got = re.sub(r"\D", "", expected), re.sub(r"\D", "", stored)
        return len(got) >= 9 and want[-9:] == got[-9:]
    if kind is ClaimFieldType.DATETIME:
        return _same_moment(expected, stored)
    words = content_words(expected) or set(normalise(expected).split())
    stored_words = normalise(stored).split()
    extra = len(stored_words) - len(words)
    return words <= set(stored_words) and extra <= max(6, 2 * len(words))


def _same_moment(expected: str, stored: str) -> bool:
    try:
        got = datetime.fromisoformat(stored.strip().replace("Z", "+00:00"))
    except ValueError:
        return False
    day, _, clock = expected.strip().partition(" ")
    if got.date().isoformat() != day:
        return False
    return not clock or got.strftime("%H:%M") == clock[:5]


# --- the record of a played scenario ----------------------------------------------------------


@dataclass
class Turn:
    """One caller line and the bot's answer as the API returned it."""

    said: str
    reply: str
    tool_calls: list[str]
    latency_s: float
    claim_after: dict[str, str | None]
    ended: bool = False
    error: str | None = None


@dataclass
class Played:
    scenario: Scenario
    greeting: str
    turns: list[Turn]
    final: dict[str, Any]  # the `call` of GET /call/{id}
    call_id: str = ""


@dataclass
class Score:
    """One scenario's counts (see the module for each definition)."""

    name: str
    turns: int = 0
    bot_turns: int = 0
    clean_turns: int = 0  # bot turns with none of the faults below
    given: int = 0
    right: int = 0
    wrong: int = 0
    reasked: int = 0
    double_questions: int = 0
    nonsense: int = 0
    repeated: int = 0
    caller_questions: int = 0
    unanswered: int = 0
    broke: int = 0
    lang_turns: int = 0
    lang_followed: int = 0
    tools_expected: int = 0
    tools_ok: int = 0
    done_at: int | None = None
    errors: int = 0
    slow: int = 0
    latencies: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.notes.append(text)


def dump(played: Played) -> str:
    """One played scenario as a JSON line (see `load_played`)."""
    return json.dumps(
        {
            "scenario": played.scenario.name,
            "call_id": played.call_id,
            "greeting": played.greeting,
            # the lines said: a model-played caller's are not the scenario file's
            "lines": [line.model_dump() for line in played.scenario.caller.lines],
            "turns": [asdict(t) for t in played.turns],
            "final": played.final,
        }
    )


def load_played(line: str, scenarios: dict[str, Scenario]) -> Played:
    raw = json.loads(line)
    turns = [Turn(**t) for t in raw["turns"]]
    scenario = scenarios[raw["scenario"]]
    if "lines" in raw:
        lines = [Line.model_validate(x) for x in raw["lines"]]
        said = scenario.caller.model_copy(update={"lines": lines})
        scenario = scenario.model_copy(update={"caller": said})
    return Played(scenario, raw["greeting"], turns, raw["final"], raw["call_id"])


def score(played: Played) -> Score:
    scenario = played.scenario
    result = Score(name=scenario.name, turns=len(played.turns))
    kinds = {f.name: f.type for f in scenario.fields}
    _score_claim(played, kinds, result)
    _score_turns(played, result)
    _score_tools(played, result)
    return result


def _score_claim(played: Played, kinds: dict[str, ClaimFieldType], result: Score) -> None:
    expected = played.scenario.expected_claim
    stored = {k: v for k, v in (played.final.get("claim") or {}).items() if v}
    result.given = len(expected)
    for name, want in expected.items():
        if value_matches(want, stored.get(name), kinds[name]):
            result.right += 1
        elif name in stored:
            result.wrong += 1
            result.note(f"wrong {name}={stored[name]!r} (expected {want!r})")
        else:
            result.note(f"missing {name} (expected {want!r})")
    for name, value in stored.items():
        if name not in expected:
            result.wrong += 1
            result.note(f"invented {name}={value!r}")
        for rule in played.scenario.forbidden:
            if re.search(rule.pattern, value, re.IGNORECASE):
                result.broke += 1
                result.note(f"stored {rule.name} in {name}")
    for index, turn in enumerate(played.turns, start=1):
        after = {k: v for k, v in turn.claim_after.items() if v}
        if expected and all(value_matches(w, after.get(n), kinds[n]) for n, w in expected.items()):
            result.done_at = index
            break


def _asks(scenario: Scenario) -> dict[str, list[re.Pattern[str]]]:
    patterns: dict[str, list[re.Pattern[str]]] = {}
    for f in scenario.fields:
        raw = scenario.asks.get(f.name) or DEFAULT_ASKS.get(f.name) or _name_patterns(f)
        patterns[f.name] = [re.compile(p, re.IGNORECASE) for p in raw]
    return patterns


def _name_patterns(f: ClaimField) -> list[str]:
    words = [w for w in f.name.split("_") if w not in {"info", "details", "policyholder"}]
    return [r"\b" + re.escape(" ".join(words)) + r"\b"] if words else []


def _score_turns(played: Played, result: Score) -> None:
    scenario = played.scenario
    asks = _asks(scenario)
    given: set[str] = set()
    said_before = {normalise(s) for s in sentences(played.greeting) if len(s.split()) >= 4}
    claim_before: dict[str, str | None] = {}
    switched_to: str | None = None
    forbidden = [(r.name, re.compile(r.pattern, re.IGNORECASE)) for r in scenario.forbidden]
    faulty: set[int] = set()
    for index, (line, turn) in enumerate(zip(scenario.caller.lines, played.turns, strict=False)):
        result.latencies.append(turn.latency_s)
        result.slow += turn.latency_s > SLOW_TURN_S
        if turn.error is not None:
            result.errors += 1
            result.note(f"turn {index + 1} failed: {turn.error}")
            continue
        given |= set(line.gives)
        reply = turn.reply
        if not turn.ended or reply.strip():
            result.bot_turns += 1
        if not reply.strip():
            if not turn.ended:
                result.nonsense += 1
                faulty.add(index)
                result.note(f"turn {index + 1}: empty reply")
            claim_before = turn.claim_after
            continue
        known = given | {k for k, v in claim_before.items() if v}
        for question in questions(reply):
            if _CONFIRM.search(question) or _quotes_value(question, turn.claim_after):
                continue
            for name in sorted(known):
                if any(p.search(question) for p in asks.get(name, [])):
                    result.reasked += 1
                    faulty.add(index)
                    result.note(f"turn {index + 1}: re-asked {name}: {question!r}")
                    break
        asked = questions(reply)
        two_in_one = any(_TWO_IN_ONE.search(q) or _two_fields(q, asks) for q in asked)
        if reply.count("?") >= 2 or two_in_one:
            result.double_questions += 1
            faulty.add(index)
        for sentence in sentences(reply):
            if _is_nonsense(sentence) or _echoes(sentence, line.say):
                result.nonsense += 1
                faulty.add(index)
                result.note(f"turn {index + 1}: nonsense {sentence!r}")
            norm = normalise(sentence)
            if len(norm.split()) >= 4:
                if norm in said_before:
                    result.repeated += 1
                    faulty.add(index)
                    result.note(f"turn {index + 1}: repeated {sentence!r}")
                said_before.add(norm)
        if line.asks:
            result.caller_questions += 1
            if not _addresses(line.say, line.answer, reply):
                result.unanswered += 1
                faulty.add(index)
                result.note(f"turn {index + 1}: unanswered {line.say!r}")
        broke = [n for n, p in forbidden if p.search(reply)]
        if PROMPT_LEAK.search(reply):
            broke.append("prompt leak")
        if broke:
            result.broke += 1
            faulty.add(index)
            result.note(f"turn {index + 1}: broke {', '.join(broke)}")
        if line.lang is not None:
            switched_to = line.lang
        if switched_to is not None:
            result.lang_turns += 1
            if language_of(reply) == switched_to:
                result.lang_followed += 1
        claim_before = turn.claim_after
    result.clean_turns = result.bot_turns - len(faulty)


def _two_fields(question: str, asks: dict[str, list[re.Pattern[str]]]) -> bool:
    """Two parts of the question (split at "and", "or", commas) ask about different fields."""
    parts = [p for p in _PARTS.split(question) if p.strip()]
    found = [{n for n, ps in asks.items() if any(p.search(part) for p in ps)} for part in parts]
    found = [f for f in found if f]
    return any(not (a & b) for i, a in enumerate(found) for b in found[i + 1 :])


def _quotes_value(question: str, claim: dict[str, str | None]) -> bool:
    text = normalise(question)
    return any(v and len(normalise(v)) >= 4 and normalise(v) in text for v in claim.values())


def _echoes(sentence: str, said: str) -> bool:
    """The bot parrots the caller: 5 words or more, at least 80% of them the caller's."""
    words = normalise(sentence).split()
    theirs = set(normalise(said).split())
    return len(words) >= 5 and sum(w in theirs for w in words) >= 0.8 * len(words)


def _is_nonsense(sentence: str) -> bool:
    return bool(
        _REFUSAL.search(sentence)
        or _TOOL_SYNTAX.search(sentence)
        or _ECHO.search(sentence)
        or _WORD_RUN.search(sentence)
    )


def _addresses(said: str, answer: list[str], reply: str) -> bool:
    if answer:
        return any(re.search(p, reply, re.IGNORECASE) for p in answer)
    asked = " ".join(q for q in sentences(said) if q.endswith("?")) or said
    theirs = {w for w in content_words(asked) if len(w) >= 4}
    return bool(theirs & content_words(reply))


def _score_tools(played: Played, result: Score) -> None:
    happened = tools_seen(played)
    expect = played.scenario.expect
    result.tools_expected = len(expect.tools) + len(expect.forbid_tools)
    for tool in expect.tools:
        if tool in happened:
            result.tools_ok += 1
        else:
            result.note(f"expected tool {tool} did not happen")
    for tool in expect.forbid_tools:
        if tool in happened:
            result.note(f"forbidden tool {tool} happened")
        else:
            result.tools_ok += 1


def tools_seen(played: Played) -> set[str]:
    """What the call did, from its final state and the replies (see the module)."""
    final = played.final
    seen = {name for turn in played.turns for name in turn.tool_calls}
    for message in final.get("messages") or []:
        seen |= {c.get("function_name", "") for c in message.get("tool_calls") or []}
    if any(t.ended for t in played.turns) or final.get("status") in {"completed", "ended"}:
        seen.add("end_call")
    else:
        seen.discard("end_call")  # asked for, refused
    if final.get("handoff"):
        seen.add("transfer")
    if final.get("reminders"):
        seen.add("reminder")
    default = (played.scenario.lang or {}).get("default_short_code", "en-US")
    if final.get("lang_short_code") not in {None, default}:
        seen.add("switch_language")
    return seen


# --- totals -----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def total(scores: list[Score]) -> Score:
    """The sum of every count; `done_at` is the mean over the scenarios that completed."""
    summed = Score(name="TOTAL")
    for s in scores:
        for name in (
            "turns bot_turns clean_turns given right wrong reasked double_questions nonsense "
            "repeated caller_questions unanswered broke lang_turns lang_followed tools_expected "
            "tools_ok errors slow"
        ).split():
            setattr(summed, name, getattr(summed, name) + getattr(s, name))
        summed.latencies += s.latencies
    done = [s.done_at for s in scores if s.done_at is not None]
    summed.done_at = round(statistics.mean(done)) if done else None
    return summed


COLUMNS = (
    ("scenario", 28),
    ("turns", 5),
    ("clean", 5),
    ("right/given", 11),
    ("wrong", 5),
    ("re-ask", 6),
    ("2q", 3),
    ("nonsense", 8),
    ("repeat", 6),
    ("unans", 7),
    ("broke", 5),
    ("lang", 5),
    ("tools", 5),
    ("done@", 5),
    ("p50 s", 6),
    ("p95 s", 6),
)


def row(s: Score) -> list[str]:
    lang = f"{s.lang_followed}/{s.lang_turns}" if s.lang_turns else "-"
    tools = f"{s.tools_ok}/{s.tools_expected}" if s.tools_expected else "-"
    unanswered = f"{s.unanswered}/{s.caller_questions}" if s.caller_questions else "-"
    return [
        s.name,
        str(s.turns),
        f"{s.clean_turns}/{s.bot_turns}",
        f"{s.right}/{s.given}",
        str(s.wrong),
        str(s.reasked),
        str(s.double_questions),
        str(s.nonsense),
        str(s.repeated),
        unanswered,
        str(s.broke),
        lang,
        tools,
        str(s.done_at) if s.done_at is not None else "-",
        f"{percentile(s.latencies, 0.5):.2f}",
        f"{percentile(s.latencies, 0.95):.2f}",
    ]


def table(scores: list[Score]) -> str:
    """A Markdown table: one row per scenario, then the totals."""
    head = "| " + " | ".join(name.ljust(width) for name, width in COLUMNS) + " |"
    rule = "|" + "|".join("-" * (width + 2) for _, width in COLUMNS) + "|"
    lines = [head, rule]
    for s in [*scores, total(scores)]:
        cells = [c.ljust(width) for c, (_, width) in zip(row(s), COLUMNS, strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(scores: list[Score]) -> str:
    """The totals as rates, one line each."""
    t = total(scores)

    def pct(part: int, whole: int) -> str:
        return f"{100 * part / whole:.0f}% ({part}/{whole})" if whole else "-"

    return "\n".join(
        [
            f"claim values right: {pct(t.right, t.given)}; wrong values stored: {t.wrong}",
            f"bot turns free of faults: {pct(t.clean_turns, t.bot_turns)}",
            f"re-asked answered fields: {t.reasked}; "
            f"turns with 2+ questions: {pct(t.double_questions, t.bot_turns)}",
            f"refusal/nonsense sentences: {t.nonsense}; repeated sentences: {t.repeated}",
            f"caller questions unanswered: {pct(t.unanswered, t.caller_questions)}; "
            f"instruction-breaking: {t.broke}",
            f"language followed after a switch: {pct(t.lang_followed, t.lang_turns)}; "
            f"tools as expected: {pct(t.tools_ok, t.tools_expected)}",
            f"completed scenarios: {sum(s.done_at is not None for s in scores)}/{len(scores)}; "
            f"turn latency p50 {percentile(t.latencies, 0.5):.1f} s, "
            f"p95 {percentile(t.latencies, 0.95):.1f} s; turns over {SLOW_TURN_S:.0f} s: {t.slow}; "
            f"failed turns: {t.errors}",
        ]
    )
