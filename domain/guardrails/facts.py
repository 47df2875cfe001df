"""Slot filling: every fact of the caller's turn stored in its field, several at once.

A small model stores almost nothing itself, and callers give facts early, unprompted, several
in one sentence, and correct themselves. This module reads the caller's turn as clauses (split
at sentence ends and commas) and phrases (split at place prepositions), and gives each piece
to the field it belongs to, by the field's type and words:

- typed values without doubt (email, phone, date and time, code, an introduced name), also
  for a field already filled when the caller corrects it;
- a place ("on the A6 near Lyon, exit 33") to the field named location/address/where;
- where something came from ("from the flat upstairs") to a field about a source;
- a reason ("for a persistent cough", "it's too expensive") to a field about why/reason;
- a phrase holding a field's words, or words of its concept (a room for a rooms field, a
  truck for the parties involved), to that field: the noun phrase when the clause is long;
- what is left, the first clause that says something, to the field that describes the
  problem (or to the field the bot just asked for).

Only free-text facts go through these rules; each value is stored clean (no lead-in, no
filler, no full stop). Pure code: the same turn always gives the same values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from domain.claim import ClaimField, ClaimFieldType
from domain.guardrails.lang import LANGUAGES
from domain.guardrails.text import WORD_RE, fold, heard, is_code_field, is_name_field
from domain.guardrails.words import alternation

# --- the caller's words, cleaned ----------------------------------------------------------

_CUT_WORD = re.compile(r"\b(\w+)(?:\.{2,}|…)\s*(\1\w*)", re.I)  # "wash... washing"


def hesitations(lang: str) -> str:
    """The hesitations dropped in a call in `lang`, as an alternation: English and French calls
    drop both languages' ("uh", "euh"), another language its own (not "um", Portuguese for "a")."""
    if lang not in LANGUAGES or lang in ("en", "fr"):
        return "|".join([*LANGUAGES["en"]["hesitations"], *LANGUAGES["fr"]["hesitations"]])
    return "|".join(LANGUAGES[lang]["hesitations"])


_FILLERS = {
    lang: re.compile(rf"(?<![\w'])(?:{hesitations(lang)})(?![\w'])[,.]?\s*", re.I)
    for lang in LANGUAGES
}
_ELLIPSIS = re.compile(r"\s*(?:\.{2,}|…)\s*")
_REPEATED_PAIR = re.compile(r"\b(\w+ \w+)(?:[\s,]+\1\b)+", re.I)
_REPEATED_WORD = re.compile(r"\b(\w+)(?:[\s,]+\1\b)+", re.I)


def clean_speech(text: str, lang: str = "en") -> str:
    """A transcript without its hesitations: "the the wash... washing machine, uh, it" becomes
    "the washing machine, it" (fillers, cut words and stutters dropped)."""
    text = _CUT_WORD.sub(r"\2", text)
    text = _FILLERS.get(lang, _FILLERS["en"]).sub("", text)
    text = _ELLIPSIS.sub(" ", text)
    text = _REPEATED_PAIR.sub(r"\1", text)
    text = _REPEATED_WORD.sub(r"\1", text)
    text = re.sub(r"\s+([,.!?])", r"\1", text)
    text = re.sub(r"([,.!?])(?:\s*[,.])+", r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip(" ,")


_LEAD_IN = re.compile(
    # After `clean_speech`: the hesitations are gone already, in the call's language.
    rf"^(?:(?:{alternation('fillers')}|oh|hey|dear|fine|right|sorry|oops"
    r"|good (?:morning|afternoon|evening)|non|no wait)\b[\s,.!]*)+",
    re.I,
)
# The other languages' lead-ins and greetings (English and French: in the rules below).
_OTHER_FILLERS = "|".join(
    f for lang, words in LANGUAGES.items() if lang not in ("en", "fr") for f in words["fillers"]
)
_TRAILING = re.compile(r"[\s,.;:!-]+$")


def clean_value(text: str) -> str:
    """Words said as a value, stored clean: no lead-in ("and", "hello"), no end punctuation."""
    return _TRAILING.sub("", _LEAD_IN.sub("", text.strip())).strip()


# --- how a field is recognised ------------------------------------------------------------

# Words that name no concept of their own in a field's name or description.
_GENERIC = frozenset(
    "the a an of and or with for any if your their his her its what which who when where why"
    " how whether that this there was were is are has have had did does been be from into"
    " number id info details name policyholder incident customer caller patient employee user"
    " client wanted visited started preferred type date time already came went going"
    " some other one they them usually any see".split()
)
# A concept's words, read in the caller's turn, by a word of the field's name or description.
_CONCEPTS: dict[str, str] = {
    "room": "room rooms kitchen bathroom bedroom hallway hall living lounge laundry basement"
    " cellar garage attic ceiling floor wall walls carpet stairs toilet",
    "injur": "hurt injured injury injuries wounded bleeding harmed bruised pain",
    "hurt": "hurt injured injury injuries wounded bleeding harmed bruised pain",
    "witness": "witness witnesses saw seen watched",
    "involved": "truck driver vehicle van bus motorbike motorcycle cyclist lorry taxi pedestrian",
    "parties": "truck driver vehicle van bus motorbike motorcycle cyclist lorry taxi pedestrian",
    "medical": "medical doctor hospital records",
    "existing": "scratch scratches dent dents already earlier previous existing",
    "earlier": "scratch scratches dent dents already earlier previous existing",
    "plumber": "plumber plumbing plombier",
    "device": "laptop computer pc desktop printer phone tablet monitor screen keyboard mouse"
    " router server",
    "hardware": "thinkpad dell lenovo hp macbook windows mac linux model",
    "plan": "plan subscription",
    "refund": "refund money back replacement new redeliver resend exchange",
    "outcome": "refund money back replacement new redeliver resend exchange",
    "doctor": "doctor dr",
}
_PLACE_FIELD = re.compile(r"\b(location|address|place|where)\b")
_SOURCE_FIELD = re.compile(r"\b(source|came from|comes from|cause|origin)\b")
_REASON_FIELD = re.compile(r"\b(reason|why)\b")
_STORY_FIELD = re.compile(
    r"\b(description|describe|problem|issue|complaint|happened|wrong|not working|symptom"
    r"|incident|fault|request)\b"
)


@dataclass(frozen=True)
class _Slot:
    field: ClaimField
    kind: str  # place, source, reason, story, entity
    triggers: re.Pattern[str] | None


def _words(field: ClaimField) -> str:
    return fold(f"{field.name.replace('_', ' ')} {field.description or ''}")


def _slot(field: ClaimField, others: set[str]) -> _Slot:
    said = _words(field)
    name = fold(field.name.replace("_", " "))
    # "The device with the problem" names the device: another field's word says nothing.
    own_said = " ".join(w for w in WORD_RE.findall(said) if w not in others)
    if _SOURCE_FIELD.search(said):
        kind = "source"
    elif _PLACE_FIELD.search(name) or (_PLACE_FIELD.search(said) and not _STORY_FIELD.search(said)):
        kind = "place"
    elif _REASON_FIELD.search(said):
        kind = "reason"
    elif _STORY_FIELD.search(name) or _STORY_FIELD.search(own_said):
        kind = "story"
    else:
        kind = "entity"
    own = [w for w in WORD_RE.findall(said) if len(w) > 2 and w not in _GENERIC | _OTHER_STOP]
    # A word that names another field is that field's (the device "with the problem").
    own = [w for w in own if w not in others]
    words = set(own)
    for word in own:
        for key, concept in _CONCEPTS.items():
            if word.startswith(key):
                # Not "van" (Dutch: of) for a van: a word of another language's every sentence.
                words |= set(concept.split()) - _OTHER_STOP
    if not words or kind in ("story", "reason"):
        return _Slot(field, kind, None)
    ordered = sorted(words, key=len, reverse=True)
    pattern = r"\b(?:" + "|".join(re.escape(w) for w in ordered) + r")\w{0,3}\b"
    return _Slot(field, kind, re.compile(pattern))


def text_slots(schema: list[ClaimField]) -> list[_Slot]:
    """The free-text fields that slot filling fills (not names, not codes), in schema order."""
    fields = [
        f
        for f in schema
        if f.type is ClaimFieldType.TEXT and not is_name_field(f) and not is_code_field(f)
    ]
    names = {w for f in schema for w in f.name.split("_") if w not in _GENERIC}
    return [_slot(f, names - set(f.name.split("_"))) for f in fields]


# --- the turn as clauses and phrases ------------------------------------------------------

_CLAUSE_SPLIT = re.compile(r"(?<=[.!?;])\s+|,\s*|\s+-\s+")
_PLACE_PREP = re.compile(
    r"\b(on|in|at|near|from|outside|behind|opposite|through|to|next to|close to)\s+", re.I
)
_DETERMINER = re.compile(r"^(?:the|a|an|my|our|your|his|her|their|this|that)\s+", re.I)
_REASON_PHRASE = re.compile(
    r"\b(?:because(?: of)?|due to|since|as)\s+(.+)$|\bfor (?:a|an|my|the|some)\s+(.+)$", re.I
)
_REASON_CUES = re.compile(
    r"\b(too|expensive|cheaper|moving|no longer|don'?t (?:need|use)|not using|because|due to"
    r"|price|cost)\b"
)
_TIME_PHRASE = re.compile(
    r"^(?:(?:on|at|in|around|about|by|since|from)\s+)?(?:the\s+)?(?:\d|this|last|yesterday"
    r"|today|tonight|tomorrow|morning|afternoon|evening|night|noon|midnight|monday|tuesday"
    r"|wednesday|thursday|friday|saturday|sunday|january|february|march|april|may|june|july"
    r"|august|september|october|november|december|\w+ ago)",
    re.I,
)
_PLACE_WORDS = re.compile(
    r"\b(street|st|road|rd|avenue|av|boulevard|rue|place|square|highway|motorway|exit|station"
    r"|car park|parking|airport|mall|supermarket|shop|store|office|school|home|house|flat"
    r"|building|bridge|roundabout|junction|crossing|city|town|village|centre|center|downtown"
    r"|gare|route)\b",
    re.I,
)
_VERBISH = re.compile(
    r"^(?:is|are|was|were|won'?t|wont|doesn'?t|don'?t|didn'?t|can'?t|cannot|will|would|has"
    r"|have|had|keeps|kept|stopped|started|got|gets|\w+ed|\w{3,}s)$",
    re.I,
)
_GREETING_ONLY = re.compile(
    r"^(?:hi|hello|hey|dear|yes|yeah|well|so|ok|okay|oh|good (?:morning|afternoon|evening)"
    rf"|thanks?|thank you|please|sorry|oops|fine|bonjour|oui|alors|{_OTHER_FILLERS})(?:\s+\w+)?$",
    re.I,
)
# A correction of a fact already given: the new value replaces the stored one.
CORRECTION = re.compile(
    rf"\b(?:{alternation('correction')})\b"
    r"|\bnot\s+[\w.@-]+\s*,|\bnot\s+\w+\s*$",
    re.I,
)


# A clause holding a typed value (email, phone, code, introduced name) is that value's.
_NAMED = rf"my name|name's|{alternation('name_intro')}|{alternation('name_self')}"
_TYPED = re.compile(
    r"@|\bat \w+ dot\b|\+?\d[\d .-]{6,}\d|\b[A-Za-z]*\d[\w-]*\d\w*-\w+|\b[A-Z]+-?\d{2,}"
    rf"|(?i:\b(?:{_NAMED})\b)\s+[A-Z]"
)


_STOP = frozenset(
    "the a an and or but to be it its is was were this that there i i'm you my me we of in on"
    " at for with not no so just very really".split()
)
# The other languages' short words: a clause left ending on one ("y mi correo es", once the
# email is cut out) says nothing (English and French: the rule where it is read).
_OTHER_STOP = frozenset(
    w for lang, words in LANGUAGES.items() if lang not in ("en", "fr") for w in words["stopwords"]
)


def _says_something(text: str) -> bool:
    words = [w for w in WORD_RE.findall(fold(text)) if w not in _STOP and not w.isdigit()]
    return len(words) >= 2


_TYPED_SPAN = re.compile(
    r"\S+@\S+|\+?\d[\d .-]{6,}\d|\b[A-Za-z]*\d[\w-]*\d\w*(?:-\w+)?|\b[A-Z]+-?\d{2,}\w*"
    rf"|(?i:\b(?:{_NAMED}))\s+[A-Z][\w'-]+"
    r"(?:\s+[A-Z][\w'-]+)*"
)


def _clauses(text: str) -> list[str]:
    """The turn's clauses that may hold a free-text fact: a typed value (email, code, name)
    is cut out, and what is left counts only when it still says something."""
    out = []
    for part in _CLAUSE_SPLIT.split(text):
        part = clean_value(part)
        if not part or _GREETING_ONLY.match(part):
            continue
        if _TYPED.search(part):
            part = clean_value(_TYPED_SPAN.sub(" ", part))
            part = re.sub(r"\s{2,}", " ", part)
            dangling = re.search(r"(?i)\b(is|are|was|and|my)$", part) or (
                fold(part.split()[-1]) in _OTHER_STOP if part.split() else False
            )
            if not _says_something(part) or dangling:
                continue
        out.append(part)
    return out


@dataclass
class _Phrase:
    prep: str  # "" for the clause's head
    text: str


def _phrases(clause: str) -> list[_Phrase]:
    """The clause's head and its place-like prepositional phrases, in order."""
    cuts = []
    for match in _PLACE_PREP.finditer(clause):
        rest = clause[match.end() :]
        if match.start() == 0 and match.group(1).lower() not in ("near", "from"):
            pass  # a clause that opens on a phrase ("in Villeurbanne") is that phrase
        if _starts_placeish(match.group(1).lower(), rest):
            cuts.append(match)
    if not cuts:
        return [_Phrase("", clause)]
    out = [_Phrase("", clause[: cuts[0].start()].strip())]
    for n, match in enumerate(cuts):
        end = cuts[n + 1].start() if n + 1 < len(cuts) else len(clause)
        out.append(_Phrase(match.group(1).lower(), clause[match.end() : end].strip()))
    return [p for p in out if p.text]


def _starts_placeish(prep: str, rest: str) -> bool:
    words = rest.split()
    if not words:
        return False
    if prep == "to":  # "delivered to 5 avenue Foch", not "connect to the VPN"
        return bool(re.match(r"\d|[A-Z]", words[0])) and bool(_PLACE_WORDS.search(rest[:40]))
    if _TIME_PHRASE.match(rest) or _DETERMINER.match(rest):
        return True  # cut: a time is dropped, another phrase may name a place or a thing
    head = _DETERMINER.sub("", rest)
    first = head.split()[0] if head.split() else ""
    return bool(re.match(r"[A-Z0-9]", first)) or bool(_PLACE_WORDS.search(" ".join(words[:4])))


def _is_time(text: str) -> bool:
    return bool(_TIME_PHRASE.match(text)) and not _PLACE_WORDS.search(text)


def _bare(text: str) -> str:
    return clean_value(_DETERMINER.sub("", clean_value(text)))


def _noun_phrase(text: str, hit: re.Match[str]) -> str | None:
    """The noun phrase around a concept word: "my laptop" in "my laptop won't connect",
    "Doctor Lambert" in "an appointment with Doctor Lambert"."""
    words = text.split()
    start_char = hit.start()
    index = len(text[:start_char].split())
    if index >= len(words):
        return None
    after = words[index + 1 :]
    caps = []
    for word in after:
        if re.match(r"[A-Z][\w'-]*[,.]?$", word):
            caps.append(word)
        else:
            break
    if caps:  # a title and a name: "Doctor Lambert"
        return " ".join([words[index], *caps]).rstrip(",.")
    start = index
    for back in range(index - 1, max(-1, index - 4), -1):
        if _DETERMINER.match(words[back] + " "):
            start = back
            break
    end = len(words)
    for n in range(index + 1, len(words)):
        if _VERBISH.match(words[n].strip(",.")):
            end = n
            break
    if start == index and index > 0 and end == len(words):
        return None
    return " ".join(words[start:end])


# --- filling ------------------------------------------------------------------------------


@dataclass
class Filled:
    """Values found in the turn, by field name, and whether the turn corrects itself."""

    values: dict[str, str]
    corrects: bool


def fill_text_slots(
    text: str,
    schema: list[ClaimField],
    filled: dict[str, str | None],
    asked: list[str],
    *,
    tell: bool = True,
    lang: str = "en",
) -> Filled:
    """Free-text values of the caller's turn `text` for the fields of `schema`.

    `filled` is the claim so far: a filled field takes a new value only when the turn
    corrects itself ("sorry, not Lyon, ..."). `asked` are the fields the bot's last question
    asked for: what no rule claims goes to the single one of them that is free text.
    """
    slots = text_slots(schema)
    corrects = bool(CORRECTION.search(fold(text)))
    # The caller's questions are not facts; what they state around them is.
    spoken = clean_speech(text, lang)
    said = " ".join(s for s in re.split(r"(?<=[.!?])\s+", spoken) if "?" not in s)
    open_slots = [s for s in slots if not filled.get(s.field.name) or corrects]
    found: dict[str, str] = {}
    story: list[str] = []
    place: list[str] = []
    placing = False
    for clause in _clauses(said):
        phrases = _phrases(clause)
        took_place = False
        head_parts: list[str] = []
        for phrase in phrases:
            if phrase.prep and _is_time(f"{phrase.prep} {phrase.text}"):
                rest = re.split(r"\s+and\s+", phrase.text, maxsplit=1)
                if len(rest) == 2 and _says_something(rest[1]):
                    head_parts.append(rest[1])  # "on May 2 and I paid 450 euros"
                continue
            if phrase.prep == "from" and (source := _first(open_slots, "source", found)):
                found[source.field.name] = _bare(phrase.text)
                continue
            if phrase.prep and _first(open_slots, "place", found) is not None:
                if _placeish(phrase.text):
                    place.append(_place_piece(phrase, place))
                    took_place = True
                    continue
            # A phrase of the answer to the field just asked stays in that answer.
            unasked = [s for s in open_slots if s.field.name not in asked]
            if phrase.prep and _entity(unasked, phrase.text, found, whole=True):
                continue
            head_parts.append(f"{phrase.prep} {phrase.text}".strip())
        head = " ".join(head_parts).strip()
        if not head:
            placing = took_place
            continue
        if placing and not took_place and _continues_place(head):
            place.append(head)  # "exit 33", "rue Francis de Pressensé"
            continue
        placing = took_place
        reason = _REASON_PHRASE.search(head)
        reason_slot = _first(open_slots, "reason", found)
        if reason_slot is not None and reason is not None:
            found[reason_slot.field.name] = _bare(reason.group(1) or reason.group(2))
            head = head[: reason.start()].strip()
        elif reason_slot is not None and _REASON_CUES.search(fold(head)):
            found[reason_slot.field.name] = clean_value(head)
            continue
        telling = not story and _first(open_slots, "story", found) is not None
        head = _entity(open_slots, head, found, whole=False, story=telling) or ""
        if _says_something(head):
            story.append(head)
    if place and (slot := _first(open_slots, "place", found)) is not None:
        found[slot.field.name] = ", ".join(place)
    if story and tell:
        unfilled = [s for s in open_slots if not filled.get(s.field.name)]
        target = _story_target(unfilled, found, asked)
        if target is not None:
            found[target.field.name] = clean_value(story[0])
    return Filled(found, corrects)


def _first(slots: list[_Slot], kind: str, found: dict[str, str]) -> _Slot | None:
    return next((s for s in slots if s.kind == kind and s.field.name not in found), None)


def _placeish(text: str) -> bool:
    head = _DETERMINER.sub("", text)
    return bool(re.match(r"[A-Z0-9]", head)) or bool(_PLACE_WORDS.search(text))


def _place_piece(phrase: _Phrase, place: list[str]) -> str:
    if not place:
        return _bare(phrase.text)
    return f"{phrase.prep} {phrase.text}"  # "A6 near Lyon": the link word stays


def _continues_place(head: str) -> bool:
    words = head.split()
    if re.match(r"(?i)(i|i'm|i'd|it|it's|we|he|she|they|my|you|please|and)\b", head):
        return False
    return len(words) <= 5 and any(re.match(r"[A-Z0-9]", w) for w in words)


def _entity(
    slots: list[_Slot], text: str, found: dict[str, str], *, whole: bool, story: bool = False
) -> str | None:
    """Give `text` (or its noun phrase) to the entity field whose words it holds; return what
    is left of it for the story ("" when the whole of it was taken), None when nothing was.

    `story`: the clause tells what happened (the story field is still open): only a noun
    phrase the caller owns ("my laptop") is taken from it, and the story keeps the clause.
    """
    for slot in slots:
        if slot.kind != "entity" or slot.triggers is None or slot.field.name in found:
            continue
        hit = slot.triggers.search(fold(text))
        if hit is None:
            continue
        phrase = _noun_phrase(text, hit)
        titled = phrase is not None and bool(re.match(r"\S+\s+[A-Z]", phrase))
        if whole and not titled:
            found[slot.field.name] = _bare(text)
            return ""
        if story:
            if phrase is None or not (titled or re.match(r"(?i)(my|our)\b", phrase)):
                continue
            found[slot.field.name] = _bare(phrase)
            return text
        if phrase is not None and (titled or len(text.split()) > 8 or _OWNED.match(phrase)):
            found[slot.field.name] = _bare(phrase)
            return _rest_after(text, phrase)
        if len(text.split()) <= 8:
            found[slot.field.name] = _bare(text)
            return ""
        tail = text[hit.start() :].split()  # "already a small scratch on the left door"
        if len(tail) <= 8:
            found[slot.field.name] = _bare(" ".join(tail))
            return text[: hit.start()].strip()
    return None if whole else text


_OWNED = re.compile(r"(?i)(my|our)\s+\w+")


def _rest_after(text: str, taken: str) -> str:
    """The story left once a subject was taken: "prints blank pages" from "My printer on the
    third floor prints blank pages"; the whole clause when the subject was not its start."""
    plain = clean_value(text)
    if fold(_bare(plain)).startswith(fold(taken)):
        rest = _bare(plain)[len(taken) :].strip(" ,")
        if len(rest.split()) >= 2:
            return rest
    return plain


def _story_target(slots: list[_Slot], found: dict[str, str], asked: list[str]) -> _Slot | None:
    free = [s for s in slots if s.field.name not in found]
    asked_free = [s for s in free if s.field.name in asked]
    if len(asked_free) == 1:
        return asked_free[0]
    # What is left tells what happened (or, for a leak, where it came from).
    return next((s for s in free if s.kind == "story"), None) or next(
        (s for s in free if s.kind == "source"), None
    )


# --- dates with corrections ---------------------------------------------------------------

_CORRECTION_CUT = re.compile(
    rf"\b(?:no+|wait|sorry|actually|i mean|rather|en fait|non|nein|nee"
    rf"|{alternation('correction')})\b"
)
_IN_THE = re.compile(r"\b(\d{1,2})\s+(?:o'?clock\s+)?in the (morning|afternoon|evening)\b")


def last_said(folded: str) -> list[str]:
    """The turn's parts from its last correction backwards: "at 6, no wait, at 8" gives
    ["at 8", "... at 6, no wait, at 8"]: read a date or time from the first that has one."""
    cuts = [m.end() for m in _CORRECTION_CUT.finditer(folded)]
    return [folded[c:] for c in reversed(cuts)] + [folded]


def spoken_hours(folded: str) -> str:
    """ "8 in the evening" written so the time readers see it ("8 pm")."""

    def meridiem(match: re.Match[str]) -> str:
        hour, part = match.groups()
        return f"{hour} {'am' if part == 'morning' else 'pm'}"

    return _IN_THE.sub(meridiem, folded)


def said_at(created_at: datetime, tz: str) -> datetime:
    return created_at.astimezone(ZoneInfo(tz))


def heard_turn(text: str, lang: str = "en") -> str:
    return spoken_hours(heard(clean_speech(text, lang)))
