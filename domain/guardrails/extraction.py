"""Extraction: values without doubt (email, phone, date and time, code, name) in what the
caller said, for the fields the bot had just asked for."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers

from domain.call import CallState, Message, Persona
from domain.claim import ClaimField, ClaimFieldType, FieldUpdate, apply_updates, validate_value
from domain.guardrails.facts import (
    CORRECTION,
    clean_speech,
    fill_text_slots,
    heard_turn,
    hesitations,
    last_said,
)
from domain.guardrails.intents import requested_tool
from domain.guardrails.lang import LANGUAGES
from domain.guardrails.slots import GENERIC_NAME_WORDS, ask_order, asks_for
from domain.guardrails.text import (
    WORD_RE,
    fold,
    heard,
    is_caller_turn,
    is_code_field,
    is_name_field,
)
from domain.guardrails.words import MONTHS, WEEKDAYS, alternation, by_position, pattern
from domain.phone import InvalidPhoneNumber, timezone_for, to_e164

# --- values in what the caller said -------------------------------------------------------

_SPOKEN_AT = re.compile(rf"\s+(?:{alternation('email_at')})\s+")
_SPOKEN_DOT = re.compile(rf"\s+(?:{alternation('email_dot')})\s+")
_EMAIL = re.compile(r"[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}")
_MONTHS = by_position(MONTHS)
_MONTH = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(\d{1,2})(?:st|nd|rd|th|er|\.)?"
# "5th of May", "4 de diciembre de 2026": the word between a day, its month and its year.
_OF = rf"(?:(?:{alternation('date_of')})\s+)?"
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
# "25/11", "25/11/2026", "25.11.2026"; not "8.30", which is a time.
_NUMERIC_DATE = re.compile(r"\b(\d{1,2})(?:/(\d{1,2})(?:/(\d{2,4}))?|\.(\d{1,2})\.(\d{2,4}))\b")
_DAY_MONTH = re.compile(rf"\b{_DAY}\s+{_OF}{_MONTH}(?:,?\s+{_OF}(\d{{4}}))?\b")
_MONTH_DAY = re.compile(rf"\b{_MONTH}\s+{_DAY}\b(?:,?\s+(\d{{4}}))?")
_WEEKDAYS = {day: n for days in WEEKDAYS.values() for n, day in enumerate(days)}
_WEEKDAY = re.compile(r"\b(" + "|".join(_WEEKDAYS) + r")\b")
_RELATIVE_DAYS = (
    (pattern("before_yesterday"), 2),
    (pattern("yesterday"), 1),
    (pattern("today"), 0),
)
_DAYS_AGO = [re.compile(rf"\b{f}\b") for w in LANGUAGES.values() for f in w["days_ago"]]
_CLOCK = re.compile(r"\b(\d{1,2})\s*(?::|h|\.)\s*(\d{2})\b\s*(a\.?m\.?|p\.?m\.?)?")
_HOUR_MERIDIEM = re.compile(r"(?<![:.h\d])\b(\d{1,2})\s*(a\.?m\.?|p\.?m\.?)(?!\w)")
_HOUR_H = re.compile(rf"\b(\d{{1,2}})\s*(?:{alternation('hour_words')})\b")
_HOUR_AT = re.compile(
    rf"\b(?:{alternation('at_hour')})\s+(\d{{1,2}})\b(?![:.h/]\d)(?!\s*(?:[ap]\.?m|h)\b)"
)
# Speech-to-text writes "eight thirty" as "830": a run of 3-4 digits after "at"/"about".
_SPOKEN_CLOCK = re.compile(r"\b(?:at|about|around|vers)\s+(?:about\s+)?(\d{1,2})(\d{2})\b")
_LATER_IN_DAY = pattern("later_in_day")
_NOON = pattern("noon")
_MIDNIGHT = pattern("midnight")


def find_emails(folded: str) -> list[str]:
    """Email addresses, also spoken ("jean dot dupont at example dot com")."""
    text = _SPOKEN_DOT.sub(".", _SPOKEN_AT.sub("@", folded))
    text = re.sub(r"\s*@\s*", "@", text)
    found = [e.rstrip(".") for e in _EMAIL.findall(text)]
    return found or [e for e in map(_glued_at, _DOTTED.findall(text)) if e]


_DOTTED = re.compile(r"(?<![\w@.])[a-z0-9][a-z0-9._+-]*\.[a-z]{2,}(?![\w@])")
_DOMAIN = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)?\.[a-z]{2,}")  # example.com, firm.co.uk


def _glued_at(token: str) -> str | None:
    """Whisper writes "jane dot miller at example dot com" as "jane.milleratexample.com": the
    address, when exactly one "at" in the token splits it into a name and a domain."""
    splits = [
        f"{token[:i]}@{token[i + 2 :]}"
        for i in range(1, len(token) - 2)
        if token.startswith("at", i)
        and not token[i - 1] == "."
        and _DOMAIN.fullmatch(token[i + 2 :])
    ]
    return splits[0] if len(splits) == 1 else None


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
    for relative, back in _RELATIVE_DAYS:
        if relative.search(folded):
            found.add(today - timedelta(days=back))
    for days_ago in _DAYS_AGO:
        for n in days_ago.findall(folded):
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
    if _NOON.search(folded):
        found.add((12, 0))
    if _MIDNIGHT.search(folded):
        found.add((0, 0))
    return found


# An answer that is not one: a question back, not knowing, a filler.
_NOT_AN_ANSWER = re.compile(rf"\?\s*$|\b(?:{alternation('no_answer')})\b")
# Lead-in words and, by language, hesitations ("um" is one in English, a word in Portuguese).
_LEADING_FILLER = {
    lang: re.compile(rf"^(?:(?:{alternation('fillers')}|{hesitations(lang)})\W+)+", re.I)
    for lang in LANGUAGES
}
# Speech-to-text leaves out the comma before where a place is relative to a landmark.
_PLACE_QUALIFIER = re.compile(rf"(?<=\w)\s+({alternation('near')})\b", re.I)
# Unprompted values: a name introduced as one, a phone number given as one.
# A name as written: capitalised words, "Ana López", "Jan de Vries" (a particle inside).
_CAPS = r"[A-ZÀ-Ý][\w'-]+"
_NAME_WORDS = rf"({_CAPS}(?:\s+(?:(?:de|van|von|der|den|da|di|del|dos)\s+)?{_CAPS}){{0,3}})"
_NAME_GIVEN = re.compile(rf"(?i:\b(?:{alternation('name_intro')}))\s+{_NAME_WORDS}")
_PHONE_GIVEN = pattern("phone_cues")
_PLACE_FIELD = re.compile(r"location|address|place|where")
_NAME_INTRO = re.compile(
    rf"(?i:\b(?:{alternation('name_intro')}|{alternation('name_self')}|it's|it is|c'est))\s+"
    rf"{_NAME_WORDS}"
)
_BARE_NAME = re.compile(
    r"^(?:(?i:yes|yeah|sure|ok|okay|oui|sí|si|sì|ja|sim)\W+)?"
    r"([A-ZÀ-Ý][\w'-]+(?:\s+[A-ZÀ-Ý][\w'-]+){1,3})\W*$"
)
_LEADING_NAME = re.compile(r"^\s*([A-ZÀ-Ý][\w'-]+(?:\s+[A-ZÀ-Ý][\w'-]+){1,2})\s*,")
_CODE = re.compile(r"\b[A-Za-z0-9][A-Za-z0-9-]*\d[A-Za-z0-9-]*\d[A-Za-z0-9-]*\b")
_PHONE_RUN = re.compile(r"(?:\+|\b00)?\d[\d .-]{6,}\d")


def extract_answer(
    call: CallState, *, free_text: bool = False, unprompted: bool = False
) -> list[FieldUpdate]:
    """Values the caller just gave for the fields the bot had just asked for.

    Only when the caller's turn is the last message (the first LLM iteration of a turn), only
    for missing fields the bot's last sentence asked for, and only for values without doubt:
    an email, a phone number, a date or time, a code with digits, a name as said. With
    `free_text` (a small model, which rarely stores anything itself), the caller's own words
    also answer a free-text field, when it was the only field asked. With `unprompted`, a
    value the caller gives for a field nobody asked for yet is taken too, when the turn says
    which field it is (see `_unprompted`). Each value is valid.
    """
    if not call.messages or not is_caller_turn(call.messages[-1]):
        return []
    turn = call.messages[-1]
    question = next(
        (m.content for m in reversed(call.messages[:-1]) if m.persona is Persona.ASSISTANT),
        "",
    )
    if not question and not unprompted:
        return []
    tz = timezone_for(call.initiate.phone_number)
    missing = [f for f in ask_order(call) if not call.claim.get(f.name)]
    asked = [f for f in missing if question and asks_for(f, question)]
    # Values the turn gives for other fields: then it is not the free-text answer asked for.
    others = _unprompted([f for f in missing if f not in asked], turn, call) if unprompted else []
    found: list[tuple[ClaimField, str | None]] = []
    for field in asked:
        raw = _answer_for(field, turn, call)
        # A request (a person, goodbye) or values for other fields is not this field's answer.
        alone = len(asked) == 1 and not others and requested_tool(call) is None
        if raw is None and free_text and alone and _is_free_text(field, question):
            raw = _words_as_answer(turn.content, field, _lang(call))
        found.append((field, raw))
    found.extend(others)
    updates: list[FieldUpdate] = []
    for field, raw in found:
        if raw is None:
            continue
        try:
            validate_value(field, raw, tz)
        except ValueError:
            continue
        updates.append(FieldUpdate(field=field.name, value=raw))
    return updates


def _unprompted(
    fields: list[ClaimField], turn: Message, call: CallState
) -> list[tuple[ClaimField, str | None]]:
    """Values given before they were asked for, only where the turn says which field each is:
    the one email said for the one email field missing, a phone number given as one ("call me
    on ..."), a name introduced ("my name is ..."), a code said with its field's words ("my
    policy is B01371946"). Free text and dates are left to the question that asks for them."""
    folded = heard(turn.content)
    out: list[tuple[ClaimField, str | None]] = []

    def only(candidates: list[ClaimField], value: str | None) -> None:
        if len(candidates) == 1 and value is not None:
            out.append((candidates[0], value))

    emails = find_emails(folded)
    only(
        [f for f in fields if f.type is ClaimFieldType.EMAIL],
        emails[0] if len(emails) == 1 else None,
    )
    if _PHONE_GIVEN.search(folded):
        phones = [f for f in fields if f.type is ClaimFieldType.PHONE_NUMBER]
        only(phones, _phone_in(folded, call.initiate.phone_number))
    name = _NAME_GIVEN.search(turn.content)
    only([f for f in fields if is_name_field(f)], name.group(1) if name else None)
    codes = [c for c in _CODE.findall(turn.content) if not _looks_like_phone(c)]
    for field in fields:
        if field.type is not ClaimFieldType.TEXT or not field.name.endswith(("_number", "_id")):
            continue
        words = [w for w in field.name.split("_") if w not in GENERIC_NAME_WORDS]
        if len(codes) == 1 and words and all(re.search(rf"\b{w}", folded) for w in words):
            out.append((field, codes[0].upper()))
    return out


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
            if is_name_field(field):
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
    return _one_moment(find_dates(folded, said_at), find_times(folded), folded, said_at)


def _one_moment(
    dates: set[date], times: set[tuple[int, int]], folded: str, said_at: datetime
) -> str | None:
    """The one date (and time) among those read from `folded`, or None when ambiguous."""
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
    if match is None or re.search(r"\d", match.group(1)):
        return None  # "it's SP-10293-FR" is a code, not a name
    return match.group(1)


def _is_free_text(field: ClaimField, question: str) -> bool:
    """A text field that is not a code or a name, asked by a question."""
    coded = is_code_field(field) or is_name_field(field)
    return field.type is ClaimFieldType.TEXT and not coded and "?" in question


def _lang(call: CallState) -> str:
    return call.lang.short_code.split("-")[0]


def _words_as_answer(text: str, field: ClaimField, lang: str = "en") -> str | None:
    """The caller's turn as the value of a free-text field, unless it is no answer."""
    folded = fold(text)
    if _NOT_AN_ANSWER.search(folded) or len(WORD_RE.findall(folded)) < 2:
        return None
    if find_emails(folded) or _PHONE_RUN.search(folded):  # contact details, not this field
        return None
    return clean_value(text, place=bool(_PLACE_FIELD.search(field.name)), lang=lang) or None


def clean_value(text: str, *, place: bool = False, lang: str = "en") -> str:
    """Words said as a value, stored clean: "and Lyon near the train station." becomes
    "Lyon, near the train station" for a place (the lead-in and the recogniser's full stop are
    not part of the value)."""
    leading = _LEADING_FILLER.get(lang, _LEADING_FILLER["en"])
    value = leading.sub("", text.strip()).strip().rstrip(" .")
    if place:
        value = _PLACE_QUALIFIER.sub(r", \1", value)
    return value


def with_updates(call: CallState, updates: list[FieldUpdate]) -> CallState:
    """A copy of `call` with `updates` stored (what the model is shown before they are)."""
    if not updates:
        return call
    claim = dict(call.claim)
    apply_updates(claim, call.claim_schema(), updates, timezone_for(call.initiate.phone_number))
    return call.model_copy(update={"claim": claim})


# --- checks of the model's tool calls ---------------------------------------------------


# --- every fact of the turn (small models) --------------------------------------------------

_NAME_SAID = re.compile(
    rf"(?i:\b(?:{alternation('name_intro')}|{alternation('name_self')}|name's))\s+"
    rf"({_CAPS}(?:\s+(?:(?:de|van|von|der|den|da|di|del|dos)\s+)?{_CAPS}){{1,3}})"
)
_BIRTH = pattern("birth")
_NOT_CODE = re.compile(r"\bnot\s+(?:dot\s+\w+|[\w.@-]*\d[\w.@-]*)", re.I)
_EXPLICIT_DATE = re.compile(r"\b(19|20)\d\d\b|\d{1,2}/\d{1,2}|\b(" + "|".join(_MONTHS) + r")\b")
_DATE_WORDS = re.compile(
    r"(?i)\b(?:" + "|".join(_MONTHS) + r")\b\.?\s*\d{0,2}(?:st|nd|rd|th)?,?\s*(?:\d{4})?"
    r"|\b\d{1,2}(?:st|nd|rd|th|\.)?\s+" + _OF + "(?:" + "|".join(_MONTHS) + r")\b\s*(?:\d{4})?"
    r"|\b\d{1,2}[:h.]\d{2}\b|\b(19|20)\d\d\b"
)
# Turns that answer nothing: an attempt to break the bot's rules, small talk.
_NOT_TELLING = pattern("not_telling")
# A sentence asking to be called back: its time is the reminder's, not a claim value.
_CALLBACK_SENTENCE = re.compile(rf"\b(?:{alternation('callback_sentence')})")


def extract_facts(
    call: CallState, asks: Callable[[ClaimField, str], bool] = asks_for, *, tell: bool = True
) -> list[FieldUpdate]:
    """Every value the caller's last turn gives, each for its field (see `facts`).

    Typed values (email, phone, date, code, name) wherever the turn says them, a filled field
    taking a new value when the turn corrects it; free-text values by `facts.fill_text_slots`.
    Only when the caller's turn is the last message; each value is valid. `asks` tells
    whether the bot's last sentence asked for a field (its own wording of questions); without
    `tell` (the turn asks for a language, or tries to break the rules), typed values only.
    """
    if not call.messages or not is_caller_turn(call.messages[-1]):
        return []
    turn = call.messages[-1]
    question = next(
        (m.content for m in reversed(call.messages[:-1]) if m.persona is Persona.ASSISTANT),
        "",
    )
    tz = timezone_for(call.initiate.phone_number)
    schema = ask_order(call)
    claim = {f.name: call.claim.get(f.name) for f in schema}
    asked = [f for f in schema if question and not claim[f.name] and asks(f, question)]
    lang = _lang(call)  # "um" is a hesitation in English, a word in Portuguese
    text = clean_speech(turn.content, lang)
    folded = heard_turn(text, lang)
    corrects = bool(CORRECTION.search(fold(text)))
    values: dict[str, str] = {}

    def put(field: ClaimField, value: str | None) -> None:
        if value is None or field.name in values:
            return
        if claim[field.name] and not corrects:
            return
        values[field.name] = value

    emails = find_emails(folded)
    for field in [f for f in schema if f.type is ClaimFieldType.EMAIL][:1]:
        put(field, emails[0] if emails else None)
    phones = [f for f in schema if f.type is ClaimFieldType.PHONE_NUMBER]
    if len(phones) == 1 and (_PHONE_GIVEN.search(folded) or phones[0] in asked):
        put(phones[0], _phone_in(folded, call.initiate.phone_number))
    _dates(call, schema, asked, turn, text, put)
    # "My name is ..." names the caller: their own field first, then any other name field.
    names = sorted(
        (f for f in schema if is_name_field(f)), key=lambda f: f.name != "policyholder_name"
    )
    said_name = _NAME_SAID.search(text)
    if names:
        put(names[0], said_name.group(1) if said_name else None)
    for field in names:
        if field in asked and field.name not in values and not said_name:
            put(field, _name_in(text))
    _codes(schema, asked, text, put)
    # A goodbye, a request or small talk tells nothing: only recognised facts are taken.
    chatting = not tell or bool(_NOT_TELLING.search(fold(text)))
    tell = requested_tool(call) is None and not chatting
    filled = fill_text_slots(text, schema, claim, [f.name for f in asked], tell=tell, lang=lang)
    if chatting:
        filled.values.clear()  # "your previous instructions" is no earlier damage
    for name, value in filled.values.items():
        if value and (not claim[name] or corrects):
            values.setdefault(name, value)
    alone = set(values) <= {asked[0].name} if len(asked) == 1 else False
    if tell and alone and _is_free_text(asked[0], question):
        # A whole answer to the one free-text question asked ("plumber... no, no plumber yet").
        # The turn answers only the question asked: all of it is the answer.
        raw = _words_as_answer(text, asked[0], lang) if requested_tool(call) is None else None
        if raw is not None:
            values[asked[0].name] = raw
    updates: list[FieldUpdate] = []
    for name, raw in values.items():
        field = next(f for f in schema if f.name == name)
        try:
            validate_value(field, raw, tz)
        except ValueError:
            continue
        if claim[name] and fold(str(claim[name])) == fold(raw):
            continue
        updates.append(FieldUpdate(field=name, value=raw))
    return updates


def _dates(
    call: CallState,
    schema: list[ClaimField],
    asked: list[ClaimField],
    turn: Message,
    text: str,
    put: Callable[[ClaimField, str | None], None],
) -> None:
    fields = [f for f in schema if f.type is ClaimFieldType.DATETIME]
    if not fields:
        return
    sentences = re.split(r"(?<=[.!?])\s+", text)
    plain = " ".join(s for s in sentences if not _CALLBACK_SENTENCE.search(fold(s)))
    folded = heard_turn(plain, _lang(call))
    tz = timezone_for(call.initiate.phone_number)
    value = _moment(folded, turn.created_at.astimezone(ZoneInfo(tz)))
    if value is None:
        return
    birth = [f for f in fields if "birth" in f.name or "birth" in fold(f.description or "")]
    if _BIRTH.search(folded):
        target = birth[0] if birth else None
    else:
        others = [f for f in fields if f not in birth]
        target = next((f for f in others if f in asked), None)
        if target is None and (len(others) == 1 or not asked):
            target = next((f for f in others if not call.claim.get(f.name)), None)
        if target is None and len(others) == 1:
            target = others[0]
        explicit = _EXPLICIT_DATE.search(folded) is not None or " " in value
        if target is not None and target not in asked and not explicit:
            return  # "talk to you Friday": a bare day is no claim value unless asked
    if target is not None:
        put(target, value)


def _moment(folded: str, said_at: datetime) -> str | None:
    """The date and time the turn names, read from its last correction on."""
    parts = last_said(folded)
    dates = next((d for p in parts if (d := find_dates(p, said_at))), set())
    timed = next((p for p in parts if find_times(p)), "")
    times = find_times(timed) if timed else set()
    return _one_moment(dates, times, timed, said_at)


def _codes(
    schema: list[ClaimField],
    asked: list[ClaimField],
    text: str,
    put: Callable[[ClaimField, str | None], None],
) -> None:
    said = _NOT_CODE.sub(" ", text)  # "CT-55-9183, not 9182": the corrected code is not one
    said = _DATE_WORDS.sub(" ", said)  # "November 30th 2026 around 11": no code
    codes = [c for c in _CODE.findall(said) if not _looks_like_phone(c)]
    folded = heard(said)
    fields = [f for f in schema if f.type is ClaimFieldType.TEXT and is_code_field(f)]
    for field in fields:
        words = [w for w in field.name.split("_") if w not in GENERIC_NAME_WORDS]
        named = bool(words) and all(re.search(rf"\b{w}", folded) for w in words)
        if len(codes) == 1 and (named or field in asked):
            put(field, codes[0].upper())
