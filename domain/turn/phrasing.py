"""What the small-model policy says itself: acknowledgements, answers, declines and questions.

Phrase templates per language, one table each in `phrasebook` (a language without a table
speaks English). Each kind has variants: the bot never says the same sentence twice in a call,
so a question asked again, or a second acknowledgement, takes the next variant not said yet.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from domain.call import CallState, Persona
from domain.claim import ClaimField, ClaimFieldType
from domain.guardrails.text import WORD_RE, fold, heard, is_code_field, is_name_field
from domain.phone import timezone_for
from domain.turn.phrasebook import TABLES

_EN = TABLES["en"]
LANGUAGE_NAMES = {lang: table["language_name"][0] for lang, table in TABLES.items()}


def lang_of(call: CallState) -> str:
    short = call.lang.short_code.split("-")[0]
    return short if short in TABLES else "en"


def variants(key: str, lang: str) -> tuple[str, ...]:
    return TABLES.get(lang, _EN).get(key) or _EN[key]


def said_before(call: CallState) -> set[str]:
    """Every sentence the bot said in this call, normalised as `norm` compares them."""
    out: set[str] = set()
    for message in call.messages:
        if message.persona is Persona.ASSISTANT and message.content:
            for sentence in re.split(r"(?<=[.!?])\s+", message.content):
                out.add(norm(sentence))
    return out


def norm(sentence: str) -> str:
    return " ".join(WORD_RE.findall(heard(sentence)))


def pick(key: str, call: CallState, said: set[str], **values: str) -> str:
    """The first variant of `key` not said in this call yet (the last one when all were)."""
    texts = [
        text.format(
            bot_name=call.initiate.bot_name, bot_company=call.initiate.bot_company, **values
        )
        for text in variants(key, lang_of(call))
    ]
    fresh = next((t for t in texts if norm(t) not in said), texts[-1])
    said.add(norm(fresh))
    return fresh


# --- questions --------------------------------------------------------------------------

# "the customer cancels", "the patient's date": not "the customer number" (a noun).
_THIRD_PERSON = re.compile(
    r"\b(?:the )?(?:customer|caller|patient|employee|user|client|policyholder)(?:'s\s+(\w+)"
    r"|\s+(\w+s|wants|has|is|was|usually|already)\b)"
)
_CLAUSE_START = re.compile(r"^(where|when|why|what|which|who|how|whether|if)\b", re.I)


def _second_person(text: str) -> str:
    """ "why the customer cancels" -> "why you cancel"; "the patient's date" -> "your date"."""

    def swap(match: re.Match[str]) -> str:
        owned, verb = match.group(1), match.group(2)
        if owned:
            return f"your {owned}"
        if verb in ("usually", "already"):
            return f"you {verb}"
        if verb and verb.endswith("s") and not verb.endswith("ss"):
            verb = {"wants": "want", "has": "have", "is": "are", "was": "were"}.get(verb, verb[:-1])
        return f"you {verb}" if verb else "you"

    text = _THIRD_PERSON.sub(swap, text)
    return re.sub(r"\bthey\b", "you", text)


# German capitalises its nouns: only these words start a label in lower case.
_GERMAN_LOWER = frozenset(
    "der die das den dem des ein eine einen einem einer wann wo was welche welcher welches wie"
    " ob warum wer".split()
)


def _label(field: ClaimField, others: Sequence[ClaimField], lang: str = "en") -> str:
    """What the question names: the description in the second person, trimmed of a trailing
    phrase about another field ("the device with the problem" -> "the device")."""
    described = (field.description or "").strip().rstrip(".")
    if not described:
        return ""
    first = described.split()[0]
    if lang != "de" or first.lower() in _GERMAN_LOWER:
        described = described[:1].lower() + described[1:]
    text = _second_person(described)
    other_words = {w for f in others if f is not field for w in f.name.split("_") if len(w) > 3}
    tail = re.search(r"\s+(?:with|for|of|about)\s+(?:the\s+)?(\w+).*$", text)
    if tail and tail.group(1).lower() in other_words:
        text = text[: tail.start()]
    return text


def question_variants(field: ClaimField, call: CallState) -> tuple[str, ...]:
    """The bot's questions for `field` in the call's language, first the plain one."""
    lang = lang_of(call)
    fixed = TABLES[lang].get(f"q_{field.name}")
    # A default field's own question; not a type's template ("q_email" for a field "email").
    if fixed and not any("{label}" in q for q in fixed):
        return fixed
    schema = call.claim_schema()
    label = _label(field, schema, lang)
    name_words = " ".join(w for w in field.name.split("_") if w not in {"info", "details"})
    match field.type:
        case ClaimFieldType.EMAIL:
            key = "q_email"
        case ClaimFieldType.PHONE_NUMBER:
            key = "q_phone"
        case ClaimFieldType.DATETIME:
            if "birth" in field.name or "birth" in label:
                key = "q_birth"
            elif _CLAUSE_START.match(label):
                key = "q_when"
            else:
                key = "q_datetime"
        case _:
            if is_name_field(field):
                key = "q_name"
            elif is_code_field(field):
                key = "q_code"
            elif not label:
                return tuple(t.format(label=name_words) for t in variants("q_named", lang))
            elif _CLAUSE_START.match(label):
                key = "q_clause"
            elif " or " in label:
                key = "q_choice"
            else:
                key = "q_thing"
    if not label:
        label = f"the {name_words}" if lang == "en" else name_words
    if key == "q_code" and not re.match(r"(the|your|a|an)\b", label):
        label = f"your {label}" if lang == "en" else label
    if key == "q_code" and lang == "en" and not re.search(r"\b(number|id|code)\b", label, re.I):
        label = f"{label} number"
    return tuple(t.format(label=label) for t in variants(key, lang))


def question(field: ClaimField, call: CallState, said: set[str]) -> str:
    """The question for `field`, worded as it was not said yet in this call."""
    plain = question_variants(field, call)[0]
    if norm(plain) not in said:
        said.add(norm(plain))
        return plain
    lang = lang_of(call)
    lowered = plain[:1].lower() + plain[1:]
    for template in variants("reask", lang):
        # German starts a sentence after a colon with a capital ("Zur Sicherheit: Wie ...").
        capital = lang == "de" and template.split("{question}")[0].rstrip().endswith(":")
        text = template.format(question=plain if capital else lowered)
        if norm(text) not in said:
            said.add(norm(text))
            return text
    return plain


def asks_field(field: ClaimField, call: CallState, bot_text: str) -> bool:
    """True when `bot_text` holds one of this policy's questions for `field`."""
    said = norm(bot_text)
    return any(norm(q) in said for q in question_variants(field, call) if norm(q))


# --- dates said back --------------------------------------------------------------------


def _date_parts(value: datetime, call: CallState) -> dict[str, str]:
    lang = lang_of(call)
    local = value.astimezone(ZoneInfo(timezone_for(call.initiate.phone_number)))
    clock = variants("time", lang)[0].format(hour=local.hour, minute=f"{local.minute:02d}")
    return {
        "weekday": variants("weekdays", lang)[local.weekday()],
        "month": variants("months", lang)[local.month - 1],
        "day": str(local.day),
        "time": clock,
    }


def say_when(value: datetime, call: CallState) -> str:
    """A date and time as said to the caller: "on Friday, December 11 at 18:00"."""
    return variants("on_date_time", lang_of(call))[0].format(**_date_parts(value, call))


def say_date(value: datetime, call: CallState, *, with_time: bool) -> str:
    """A date noted, with its time or without: "Friday, December 11 at 18:00"."""
    key = "date_time" if with_time else "date"
    return variants(key, lang_of(call))[0].format(**_date_parts(value, call))


def topic_of(question: str) -> str:
    """What an off-topic question is about, said back: "the rain", "the football match"."""
    found = re.search(r"\bthe ((?:\w+ )?\w+)", question, re.I)
    if found:
        words = found.group(1).split()
        words = [w for w in words if fold(w) not in {"last", "next", "this"}]
        if words and fold(words[-1]) not in {"night", "day", "week", "time"}:
            return "the " + " ".join(words)
    return "that" if not found else f"the {found.group(1).split()[0]}"
