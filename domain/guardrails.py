"""Deterministic guardrails around a weak LLM's tool calls: grounding, slot filling, intents.

A small local model invents claim values ("John Doe", policy "1234567890"), hangs up or
transfers when nobody asked, and forgets to store what the caller has just answered. These
pure functions (workflows import them) check each value against what the caller actually said,
decide which field the bot asks for next, and pick an obvious answer (email, phone number,
date and time, policy number, name) out of the caller's turn when the bot had asked for it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers

from domain.call import Action, CallState, Message, Persona
from domain.claim import (
    ClaimField,
    ClaimFieldType,
    FieldResult,
    FieldUpdate,
    apply_updates,
    parse_datetime,
    validate_value,
)
from domain.phone import InvalidPhoneNumber, timezone_for, to_e164
from domain.tools import ToolName

MAX_CALLER_TURNS = 12  # what the caller said lately is the evidence a value must come from
NOT_SAID = "the caller did not say {value!r}"

# Asked in this order when present; the other fields follow in their schema order.
ASK_FIRST = (
    "incident_description",
    "policyholder_name",
    "policy_number",
    "incident_datetime",
    "incident_location",
)


# --- text normalisation ------------------------------------------------------------------

_NUMBER_WORDS = {
    w: str(n)
    for n, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve".split()
    )
}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b")
_WORD_RE = re.compile(r"[a-z0-9]+")
# Words that say nothing specific: a value made only of them ("car accident") invents nothing.
_STOPWORDS = frozenset(
    "the and for with from that this was were his her their they them you your our she him its"
    " has had have are but not all any can did does one two very into onto over near about"
    " then than there here when what who where which while just also been being some caller"
    " customer car vehicle accident claim incident les des une est dans pour avec sur".split()
)
_NONE_VALUES = re.compile(
    r"^(none|no|nothing|nobody|no one|n/?a|not applicable|unknown|not known|aucun\w*|rien"
    r"|personne|non|neant|no \w+|none \w+|not \w+)\W*$"
)
_NEGATION = re.compile(
    r"\b(no|not|none|nobody|nothing|never|no one|aucun\w*|rien|personne|pas|non)\b|n't\b"
)
_HUMAN_ASKED = re.compile(
    r"\b(human|person|people|agent|someone|somebody|representative|operator|advis[eo]r|manager"
    r"|supervisor|conseill\w*|humain|quelqu.un)\b"
)
# Requests clear enough to act on without the model (it misses them: measured).
_WANTS_HUMAN = re.compile(
    r"\b(talk|speak|transfer|put me through|connect|get|give|want|need)\b.{0,30}"
    r"\b(human|real person|a person|someone|somebody|agent|representative|operator|manager"
    r"|advis[eo]r|conseill\w*|humain|quelqu.un)\b"
    r"|\b(human|agent|representative|operator)\W+please\b"
)
_SAYS_GOODBYE = re.compile(r"\b(bye|goodbye|good bye|au revoir)\b")
_GOODBYE = re.compile(
    r"\b(bye|goodbye|good bye|hang up|that'?s all|that is all|nothing else|end (the|this) call"
    r"|have a (nice|good) day|au revoir|bonne journee)\b"
)


def fold(text: str) -> str:
    """Lower case without accents, apostrophes made plain: the form every check compares."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.casefold().replace("’", "'")


def heard(text: str) -> str:
    """`fold`ed, with number words as digits ("five" -> "5"), as speech-to-text may write them."""
    return _NUMBER_WORD.sub(lambda w: _NUMBER_WORDS[w.group()], fold(text))


def _compact(text: str) -> str:
    """Only letters and digits: "AB-123 cd" and "a b 1 2 3 c d" both give "ab123cd"."""
    return "".join(_WORD_RE.findall(text))


def _stem(word: str) -> str:
    return word[:4]


@dataclass(frozen=True)
class CallerTurn:
    """One thing the caller said, in the forms the checks compare."""

    text: str  # folded, number words as digits
    compact: str
    at: datetime  # when it was said, in the caller's timezone


class Evidence:
    """What the caller said lately: the only source a claim value may come from."""

    def __init__(self, call: CallState) -> None:
        self.tz = timezone_for(call.initiate.phone_number)
        said = [m for m in call.messages if _is_caller_turn(m)][-MAX_CALLER_TURNS:]
        zone = ZoneInfo(self.tz)
        self.turns = [
            CallerTurn(heard(m.content), _compact(heard(m.content)), m.created_at.astimezone(zone))
            for m in said
        ]
        self.words = {w for t in self.turns for w in _WORD_RE.findall(t.text)}
        self.stems = {_stem(w) for w in self.words}
        self.emails = {e for t in self.turns for e in find_emails(t.text)}
        self.dates = {d for t in self.turns for d in find_dates(t.text, t.at)}
        self.times = {hm for t in self.turns for hm in find_times(t.text)}
        self.negated = any(_NEGATION.search(t.text) for t in self.turns)

    def said_compact(self, needle: str) -> bool:
        return bool(needle) and any(needle in t.compact for t in self.turns)

    def refusal(self, field: ClaimField, value: str) -> str | None:
        """Why `value` (already validated) is not what the caller said, or None when it is."""
        match field.type:
            case ClaimFieldType.EMAIL:
                local, _, domain = fold(value).partition("@")
                name = domain.rsplit(".", 1)[0]
                ok = value.casefold() in self.emails or all(
                    self.said_compact(_compact(part)) for part in (local, name)
                )
            case ClaimFieldType.PHONE_NUMBER:
                national = _national_digits(value)
                ok = any(national in re.sub(r"\D", "", t.text) for t in self.turns)
            case ClaimFieldType.DATETIME:
                ok = self._said_datetime(parse_datetime(value, self.tz))
            case ClaimFieldType.TEXT:
                ok = self._said_text(field, value)
        return None if ok else NOT_SAID.format(value=value)

    def _said_datetime(self, when: datetime) -> bool:
        local = when.astimezone(ZoneInfo(self.tz))
        hm = (local.hour, local.minute)
        told_time = hm == (0, 0) or hm in self.times
        today = {t.at.date() for t in self.turns}
        # A time alone ("at 8:30") means today, which is the date a model fills in.
        told_date = local.date() in self.dates or (hm in self.times and local.date() in today)
        return told_date and told_time

    def _said_text(self, field: ClaimField, value: str) -> bool:
        folded = fold(value)
        words = _WORD_RE.findall(folded)
        # Every number or code in the value (policy, plate, street number) was said as is.
        codes = re.findall(r"[\w-]*\d[\w-]*", folded)
        if not all(self.said_compact(_compact(c)) for c in codes):
            return False
        if _is_name_field(field):
            return all(w in self.words or self.said_compact(w) for w in words if len(w) > 1)
        if _NONE_VALUES.match(folded.strip()):
            return self.negated
        content = [
            w for w in words if len(w) > 2 and w not in _STOPWORDS and not re.search(r"\d", w)
        ]
        return not content or any(_stem(w) in self.stems for w in content)


def _is_caller_turn(message: Message) -> bool:
    return (
        message.persona is Persona.HUMAN
        and message.action in (Action.TALK, Action.SMS)
        and bool(message.content.strip())
    )


def _is_name_field(field: ClaimField) -> bool:
    return field.name == "name" or field.name.endswith("_name")


def _national_digits(e164: str) -> str:
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return re.sub(r"\D", "", e164)
    return str(parsed.national_number)


# --- values in what the caller said -------------------------------------------------------

_SPOKEN_AT = re.compile(r"\s+(?:at|arobase)\s+")
_SPOKEN_DOT = re.compile(r"\s+(?:dot|point)\s+")
_EMAIL = re.compile(r"[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}")
_MONTHS = {
    name: n
    for n, names in enumerate(
        [
            ("january", "jan", "janvier"),
            ("february", "feb", "fevrier"),
            ("march", "mar", "mars"),
            ("april", "apr", "avril"),
            ("may", "mai"),
            ("june", "jun", "juin"),
            ("july", "jul", "juillet"),
            ("august", "aug", "aout"),
            ("september", "sep", "sept", "septembre"),
            ("october", "oct", "octobre"),
            ("november", "nov", "novembre"),
            ("december", "dec", "decembre"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th|er)?"
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
# "25/11", "25/11/2026", "25.11.2026"; not "8.30", which is a time.
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})(?:/(\d{1,2})(?:/(\d{2,4}))?|\.(\d{1,2})\.(\d{2,4}))\b")
_DAY_MONTH = re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?:\s+(\d{{4}}))?\b")
_MONTH_DAY = re.compile(rf"\b{_MONTH}\s+{_DAY}\b(?:,?\s+(\d{{4}}))?")
_WEEKDAYS = {
    name: n
    for n, names in enumerate(
        [
            ("monday", "lundi"),
            ("tuesday", "mardi"),
            ("wednesday", "mercredi"),
            ("thursday", "jeudi"),
            ("friday", "vendredi"),
            ("saturday", "samedi"),
            ("sunday", "dimanche"),
        ]
    )
    for name in names
}
_WEEKDAY = re.compile(r"\b(" + "|".join(_WEEKDAYS) + r")\b")
_RELATIVE_DAYS = (
    (re.compile(r"\b(day before yesterday|avant.hier)\b"), 2),
    (re.compile(r"\b(yesterday|last night|hier)\b"), 1),
    (
        re.compile(
            r"\b(today|this (morning|afternoon|evening)|tonight|earlier|just now|an hour ago"
            r"|aujourd'hui|ce matin|cet apres.midi|ce soir)\b"
        ),
        0,
    ),
)
_DAYS_AGO = re.compile(r"\b(\d{1,2}) days? ago\b")
_CLOCK = re.compile(r"\b(\d{1,2})\s*(?::|h|\.)\s*(\d{2})\b\s*(a\.?m\.?|p\.?m\.?)?")
_HOUR_MERIDIEM = re.compile(r"(?<![:.h\d])\b(\d{1,2})\s*(a\.?m\.?|p\.?m\.?)(?!\w)")
_HOUR_H = re.compile(r"\b(\d{1,2})\s*(?:h|heures?)\b")
_HOUR_AT = re.compile(
    r"\b(?:at|around|about|by|vers)\s+(\d{1,2})\b(?![:.h/]\d)(?!\s*(?:[ap]\.?m|h)\b)"
)
# Speech-to-text writes "eight thirty" as "830": a run of 3-4 digits after "at"/"about".
_SPOKEN_CLOCK = re.compile(r"\b(?:at|about|around|vers)\s+(?:about\s+)?(\d{1,2})(\d{2})\b")
_LATER_IN_DAY = re.compile(r"\b(afternoon|evening|tonight|night|apres.midi|soir)\b")


def find_emails(folded: str) -> list[str]:
    """Email addresses, also spoken ("jean dot dupont at example dot com")."""
    text = _SPOKEN_DOT.sub(".", _SPOKEN_AT.sub("@", folded))
    text = re.sub(r"\s*@\s*", "@", text)
    return [e.rstrip(".") for e in _EMAIL.findall(text)]


def find_dates(folded: str, said_at: datetime) -> set[date]:
    """Calendar dates the text names, explicit or relative to when it was said."""
    today = said_at.date()
    found: set[date] = set()

    def add(year: int | None, month: int, day: int) -> None:
        try:
            found.add(date(year or today.year, month, day))
        except ValueError:
            pass

    for y, m, d in _ISO_DATE.findall(folded):
        add(int(y), int(m), int(d))
    for a, b_slash, y_slash, b_dot, y_dot in _NUMERIC_DATE.findall(folded):
        b, y = (b_slash, y_slash) if b_slash else (b_dot, y_dot)
        year = int(y) + (2000 if len(y) == 2 else 0) if y else None
        add(year, int(b), int(a))  # day first, and month first: both readings are evidence
        add(year, int(a), int(b))
    for d, month, y in _DAY_MONTH.findall(folded):
        add(int(y) if y else None, _MONTHS[month], int(d))
    for month, d, y in _MONTH_DAY.findall(folded):
        add(int(y) if y else None, _MONTHS[month], int(d))
    for pattern, back in _RELATIVE_DAYS:
        if pattern.search(folded):
            found.add(today - timedelta(days=back))
    for n in _DAYS_AGO.findall(folded):
        found.add(today - timedelta(days=int(n)))
    for name in _WEEKDAY.findall(folded):
        back = (today.weekday() - _WEEKDAYS[name]) % 7 or 7  # the last one before today
        found.add(today - timedelta(days=back))
    return found


def find_times(folded: str) -> set[tuple[int, int]]:
    """(hour, minute) the text names; an hour without am/pm counts as both readings."""
    found: set[tuple[int, int]] = set()

    def add(hour: int, minute: int, meridiem: str | None) -> None:
        if not (0 <= hour <= 23 and 0 <= minute <= 59):
            return
        if meridiem and meridiem.startswith("p") and hour < 12:
            hour += 12
        elif meridiem and meridiem.startswith("a") and hour == 12:
            hour = 0
        found.add((hour, minute))
        if not meridiem and hour < 12:
            found.add((hour + 12, minute))

    for h, m, meridiem in _CLOCK.findall(folded):
        add(int(h), int(m), meridiem or None)
    for h, m in _SPOKEN_CLOCK.findall(folded):
        add(int(h), int(m), None)
    for h, meridiem in _HOUR_MERIDIEM.findall(folded):
        add(int(h), 0, meridiem)
    for h in [*_HOUR_H.findall(folded), *_HOUR_AT.findall(folded)]:
        add(int(h), 0, None)
    if re.search(r"\b(noon|midday|midi)\b", folded):
        found.add((12, 0))
    if re.search(r"\b(midnight|minuit)\b", folded):
        found.add((0, 0))
    return found


# --- slot filling ---------------------------------------------------------------------

_ASKS_BY_TYPE = {
    ClaimFieldType.EMAIL: re.compile(r"\b(e-?mail|mail|courriel)\b"),
    ClaimFieldType.PHONE_NUMBER: re.compile(
        r"\b(phone|telephone|mobile|reach you|call you back|numero de telephone)\b"
    ),
    ClaimFieldType.DATETIME: re.compile(
        r"\b(when|what time|which day|what day|date|quand|quelle heure|quel jour)\b"
    ),
}
_GENERIC_NAME_WORDS = frozenset({"policyholder", "incident", "number", "id", "customer"})
# How the bot asks for the default free-text fields; other fields by the words of their name.
_ASKS_TEXT = {
    "incident_location": re.compile(r"\b(where|location|ou)\b|(?<!mail )\baddress\b"),
    "incident_description": re.compile(r"\b(what happened|describe|tell me (more )?about)\b"),
    "injuries": re.compile(r"\b(injur\w*|hurt|blesse\w*)\b"),
    "witnesses": re.compile(r"\b(witness\w*|temoin\w*)\b"),
    "involved_parties": re.compile(r"\b(involved|other (driver|vehicle|car|party))\b"),
    "medical_records": re.compile(r"\b(medical|doctor|hospital)\b"),
    "pre_existing_damages": re.compile(r"\b((existing|earlier|previous|prior) damage\w*)\b"),
}
# An answer that is not one: a question back, not knowing, a filler.
_NOT_AN_ANSWER = re.compile(
    r"\?\s*$|\b(don'?t (know|have|remember)|not sure|no idea|can'?t remember|repeat|sorry"
    r"|thanks?|thank you)\b"
)
_LEADING_FILLER = re.compile(r"^(?:(?:yes|yeah|well|so|um+|uh+|ok|okay|sure|oui|alors)\W+)+", re.I)
_NAME_INTRO = re.compile(
    r"(?i:my name is|my name's|name is|i am|i'm|this is|it's|it is|je m'appelle|c'est)\s+"
    r"((?:[A-ZÀ-Ý][\w'-]+)(?:\s+[A-ZÀ-Ý][\w'-]+){0,3})"
)
_BARE_NAME = re.compile(
    r"^(?:(?i:yes|yeah|sure|ok|okay|oui)\W+)?([A-ZÀ-Ý][\w'-]+(?:\s+[A-ZÀ-Ý][\w'-]+){1,3})\W*$"
)
_LEADING_NAME = re.compile(r"^\s*([A-ZÀ-Ý][\w'-]+(?:\s+[A-ZÀ-Ý][\w'-]+){1,2})\s*,")
_CODE = re.compile(r"\b[A-Za-z0-9][A-Za-z0-9-]*\d[A-Za-z0-9-]*\d[A-Za-z0-9-]*\b")
_PHONE_RUN = re.compile(r"(?:\+|\b00)?\d[\d .-]{6,}\d")


def ask_order(call: CallState) -> list[ClaimField]:
    """The claim fields in the order the bot asks for them."""
    schema = call.claim_schema()
    first = [f for name in ASK_FIRST for f in schema if f.name == name]
    return [*first, *(f for f in schema if f not in first)]


def next_missing_field(call: CallState) -> ClaimField | None:
    """The single field the bot should ask for now, or None when the claim is complete."""
    return next((f for f in ask_order(call) if not call.claim.get(f.name)), None)


def asks_for(field: ClaimField, bot_text: str) -> bool:
    """True when the bot's sentence asks the caller for `field`."""
    text = fold(bot_text)
    by_type = _ASKS_BY_TYPE.get(field.type)
    if by_type is not None:
        return bool(by_type.search(text))
    if _is_name_field(field):
        return bool(re.search(r"\b(name|nom)\b", text))
    if field.name in _ASKS_TEXT:
        return bool(_ASKS_TEXT[field.name].search(text))
    words = [w for w in field.name.split("_") if w not in _GENERIC_NAME_WORDS]
    return bool(words) and all(re.search(rf"\b{re.escape(w)}", text) for w in words)


def extract_answer(call: CallState, *, free_text: bool = False) -> list[FieldUpdate]:
    """Values the caller just gave for the fields the bot had just asked for.

    Only when the caller's turn is the last message (the first LLM iteration of a turn), only
    for missing fields the bot's last sentence asked for, and only for values without doubt:
    an email, a phone number, a date or time, a code with digits, a name as said. With
    `free_text` (a small model, which rarely stores anything itself), the caller's own words
    also answer a free-text field, when it was the only field asked. Each value is valid.
    """
    if not call.messages or not _is_caller_turn(call.messages[-1]):
        return []
    turn = call.messages[-1]
    question = next(
        (m.content for m in reversed(call.messages[:-1]) if m.persona is Persona.ASSISTANT),
        "",
    )
    if not question:
        return []
    tz = timezone_for(call.initiate.phone_number)
    asked = [f for f in ask_order(call) if not call.claim.get(f.name) and asks_for(f, question)]
    updates: list[FieldUpdate] = []
    for field in asked:
        raw = _answer_for(field, turn, call)
        if raw is None and free_text and len(asked) == 1 and _is_free_text(field, question):
            raw = _words_as_answer(turn.content)
        if raw is None:
            continue
        try:
            validate_value(field, raw, tz)
        except ValueError:
            continue
        updates.append(FieldUpdate(field=field.name, value=raw))
    return updates


def _answer_for(field: ClaimField, turn: Message, call: CallState) -> str | None:
    folded = heard(turn.content)
    match field.type:
        case ClaimFieldType.EMAIL:
            emails = find_emails(folded)
            return emails[0] if len(emails) == 1 else None
        case ClaimFieldType.PHONE_NUMBER:
            return _phone_in(folded, call.initiate.phone_number)
        case ClaimFieldType.DATETIME:
            tz = timezone_for(call.initiate.phone_number)
            return _datetime_in(folded, turn.created_at.astimezone(ZoneInfo(tz)))
        case ClaimFieldType.TEXT:
            if _is_name_field(field):
                return _name_in(turn.content)
            if field.name.endswith(("_number", "_id")):
                codes = [c for c in _CODE.findall(turn.content) if not _looks_like_phone(c)]
                return codes[0].upper() if len(codes) == 1 else None
    return None


def _phone_in(folded: str, caller_number: str) -> str | None:
    region = phonenumbers.region_code_for_number(phonenumbers.parse(caller_number, None))
    numbers = set()
    for run in _PHONE_RUN.findall(folded):
        try:
            parsed = phonenumbers.parse(run, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            numbers.add(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    if len(numbers) != 1:
        return None
    try:
        return to_e164(numbers.pop())
    except InvalidPhoneNumber:
        return None


def _looks_like_phone(code: str) -> bool:
    return len(re.sub(r"\D", "", code)) >= 9 and not re.search(r"[A-Za-z]", code)


def _datetime_in(folded: str, said_at: datetime) -> str | None:
    dates = find_dates(folded, said_at)
    times = find_times(folded)
    if len(dates) > 1:
        dates = {d for d in dates if d <= said_at.date()} or dates  # an incident is past
    if len(dates) > 1:
        return None
    day = next(iter(dates), said_at.date() if times else None)
    if day is None:
        return None
    hours = sorted(times)
    if not hours:
        return day.isoformat()
    if len(hours) == 2 and hours[1][0] == hours[0][0] + 12:  # no am/pm said
        later = _LATER_IN_DAY.search(folded) is not None
        hours = [hours[1] if later else hours[0]]
    if len(hours) != 1:
        return None
    hour, minute = hours[0]
    return f"{day.isoformat()} {hour:02d}:{minute:02d}"


def _name_in(text: str) -> str | None:
    match = _NAME_INTRO.search(text) or _BARE_NAME.match(text.strip()) or _LEADING_NAME.match(text)
    return match.group(1) if match else None


def _is_free_text(field: ClaimField, question: str) -> bool:
    """A text field that is not a code or a name, asked by a question."""
    coded = field.name.endswith(("_number", "_id")) or _is_name_field(field)
    return field.type is ClaimFieldType.TEXT and not coded and "?" in question


def _words_as_answer(text: str) -> str | None:
    """The caller's turn as the value of a free-text field, unless it is no answer."""
    folded = fold(text)
    if _NOT_AN_ANSWER.search(folded) or len(_WORD_RE.findall(folded)) < 2:
        return None
    return _LEADING_FILLER.sub("", text.strip()).strip() or None


def with_updates(call: CallState, updates: list[FieldUpdate]) -> CallState:
    """A copy of `call` with `updates` stored (what the model is shown before they are)."""
    if not updates:
        return call
    claim = dict(call.claim)
    apply_updates(claim, call.claim_schema(), updates, timezone_for(call.initiate.phone_number))
    return call.model_copy(update={"claim": claim})


# --- checks of the model's tool calls ---------------------------------------------------


def apply_grounded_updates(call: CallState, updates: list[FieldUpdate]) -> list[FieldResult]:
    """`apply_updates`, refusing every valid value the caller did not say (nothing stored)."""
    schema = call.claim_schema()
    by_name = {f.name: f for f in schema}
    evidence = Evidence(call)
    results: list[FieldResult] = []
    for update in updates:
        field = by_name.get(update.field)
        if field is not None:
            try:
                value = validate_value(field, update.value, evidence.tz)
            except ValueError:
                value = None  # apply_updates explains what is wrong with it
            reason = evidence.refusal(field, value) if value is not None else None
            if reason is not None:
                results.append(FieldResult(field=field.name, ok=False, reason=reason))
                continue
        results.extend(apply_updates(call.claim, schema, [update], evidence.tz))
    return results


def last_caller_turn(call: CallState) -> str:
    return next((m.content for m in reversed(call.messages) if _is_caller_turn(m)), "")


def requested_tool(call: CallState) -> ToolName | None:
    """The tool the caller's turn clearly asks for (a person, goodbye), when it is the last."""
    if not call.messages or not _is_caller_turn(call.messages[-1]):
        return None
    text = fold(call.messages[-1].content)
    if _WANTS_HUMAN.search(text):
        return ToolName.TALK_TO_HUMAN
    if _SAYS_GOODBYE.search(text):
        return ToolName.END_CALL
    return None


def transfer_refusal(call: CallState) -> str | None:
    """Why `talk_to_human` must not run: the caller did not ask for a person."""
    if _HUMAN_ASKED.search(fold(last_caller_turn(call))):
        return None
    return "Error: the caller did not ask for a human agent; go on helping them yourself."


def hang_up_refusal(call: CallState) -> str | None:
    """Why `end_call` must not run: the caller did not say goodbye."""
    if _GOODBYE.search(fold(last_caller_turn(call))):
        return None
    return "Error: the caller did not say goodbye; do not hang up, ask your next question."


# --- the bot's own question (small models) ------------------------------------------------

# How the bot asks for each default field when the model's reply did not: each one is
# recognised by `asks_for`, so the caller's answer is stored on the next turn.
_QUESTIONS = {
    "incident_description": "Could you tell me what happened?",
    "policyholder_name": "May I have your full name, please?",
    "policy_number": "What is your insurance policy number?",
    "incident_datetime": "When did it happen, what day and at what time?",
    "incident_location": "Where did it happen?",
    "injuries": "Was anyone hurt or injured?",
    "involved_parties": "Who else was involved, another driver or vehicle?",
    "medical_records": "Do you have medical records from a doctor or a hospital?",
    "pre_existing_damages": "Was there any earlier damage on the vehicle?",
    "witnesses": "Were there any witnesses?",
    "policyholder_email": "What is your email address?",
    "policyholder_phone": "What phone number can we reach you at?",
}
_QUESTIONS_BY_TYPE = {
    ClaimFieldType.EMAIL: "What is the email address for {label}?",
    ClaimFieldType.PHONE_NUMBER: "What is the phone number for {label}?",
    ClaimFieldType.DATETIME: "When was it, for {label}: what day and at what time?",
}


ANYTHING_ELSE = "Is there anything else you would like to add?"


def question_for(field: ClaimField) -> str:
    """The bot's question for `field` (English), phrased so that `asks_for` recognises it."""
    if field.name in _QUESTIONS:
        return _QUESTIONS[field.name]
    label = (field.description or field.name.replace("_", " ")).rstrip(".").lower()
    template = _QUESTIONS_BY_TYPE.get(field.type)
    if template is not None:
        return template.format(label=label)
    if _is_name_field(field):
        return "May I have the name, please?"
    return f"Could you tell me the {field.name.replace('_', ' ')}: {label}?"


def echoes_caller(sentence: str, call: CallState, *, threshold: float = 0.6) -> bool:
    """True when a reply sentence mostly repeats the caller's last turn (small models do)."""
    last = next((m for m in reversed(call.messages) if _is_caller_turn(m)), None)
    if last is None:
        return False
    words = _WORD_RE.findall(heard(sentence))
    if len(words) < 4:
        return False
    theirs = set(_WORD_RE.findall(heard(last.content)))
    return sum(w in theirs for w in words) / len(words) >= threshold


def repeats_bot(sentence: str, call: CallState) -> bool:
    """True when the bot already said this sentence (a small model copies its own history)."""
    words = _WORD_RE.findall(heard(sentence))
    if len(words) < 3:
        return False
    said = " ".join(words)
    return any(
        said in " ".join(_WORD_RE.findall(heard(m.content)))
        for m in call.messages
        if m.persona is Persona.ASSISTANT and m.content
    )
