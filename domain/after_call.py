"""Post-call results built from the call's facts, without a model.

A small local model invents syntheses, copies its refusals into them and repeats its
instructions as the SMS (measured: issue 12). For such a model the synthesis, the next action
and the SMS summary come from what the call recorded: the claim, its missing fields, the
reminders, emergencies and hand-off, the claims closed by `new_claim`. A hosted model's
answers fall back to these too when they are unusable (a refusal, an invalid answer).

Pure code: the same call always gives the same texts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from domain.call import (
    Action,
    CallState,
    Next,
    NextAction,
    Persona,
    Reminder,
    Satisfaction,
    Synthesis,
)
from domain.claim import ClaimField, ClaimFieldType, parse_datetime
from domain.guardrails import refuses
from domain.phone import timezone_for

SHORT_MAX_CHARS = 60
SMS_MAX_CHARS = 320
# Fields that say what the call is about, by name: their value makes the short summary.
_ABOUT_WORDS = ("description", "issue", "problem", "reason", "subject", "request", "summary")
_CONTACT_FIELDS = frozenset({"policyholder_email", "policyholder_name", "policyholder_phone"})


@dataclass(frozen=True)
class SmsWords:
    """The SMS summary's sentences in one language; values are the caller's own words."""

    thanks: str  # {name}: ", Jean" or ""
    about: str  # {short}
    missing: str
    expertise: str
    priority: str
    callback: str  # {when}
    signature: str  # {bot_name}, {bot_company}


# One table per shipped phrase language (`domain/phrases`); others get English.
SMS_WORDS: dict[str, SmsWords] = {
    "en": SmsWords(
        "Thank you{name} for your call.",
        "We recorded your request: {short}.",
        "A few details are still missing: we will contact you.",
        "An expert will review your file.",
        "An agent will contact you shortly.",
        "We will call you back on {when}.",
        "{bot_name}, {bot_company}",
    ),
    "fr": SmsWords(
        "Merci{name} pour votre appel.",
        "Nous avons enregistré votre demande : {short}.",
        "Il manque encore quelques informations : nous vous recontacterons.",
        "Un expert va étudier votre dossier.",
        "Un conseiller va vous contacter rapidement.",
        "Nous vous rappellerons le {when}.",
        "{bot_name}, {bot_company}",
    ),
    "es": SmsWords(
        "Gracias{name} por su llamada.",
        "Hemos registrado su solicitud: {short}.",
        "Faltan algunos datos: le contactaremos.",
        "Un experto revisará su expediente.",
        "Un agente le contactará en breve.",
        "Le llamaremos el {when}.",
        "{bot_name}, {bot_company}",
    ),
    "de": SmsWords(
        "Vielen Dank{name} für Ihren Anruf.",
        "Wir haben Ihr Anliegen aufgenommen: {short}.",
        "Es fehlen noch einige Angaben: wir melden uns bei Ihnen.",
        "Ein Sachverständiger prüft Ihre Akte.",
        "Ein Mitarbeiter meldet sich in Kürze bei Ihnen.",
        "Wir rufen Sie am {when} zurück.",
        "{bot_name}, {bot_company}",
    ),
    "it": SmsWords(
        "Grazie{name} per la sua chiamata.",
        "Abbiamo registrato la sua richiesta: {short}.",
        "Mancano ancora alcune informazioni: la ricontatteremo.",
        "Un esperto esaminerà la sua pratica.",
        "Un operatore la contatterà a breve.",
        "La richiameremo il {when}.",
        "{bot_name}, {bot_company}",
    ),
    "pt": SmsWords(
        "Obrigado{name} pela sua chamada.",
        "Registámos o seu pedido: {short}.",
        "Ainda faltam alguns dados: entraremos em contacto.",
        "Um perito vai analisar o seu processo.",
        "Um agente vai contactá-lo em breve.",
        "Voltaremos a ligar no dia {when}.",
        "{bot_name}, {bot_company}",
    ),
    "nl": SmsWords(
        "Bedankt{name} voor uw oproep.",
        "We hebben uw verzoek genoteerd: {short}.",
        "Er ontbreken nog enkele gegevens: we nemen contact met u op.",
        "Een expert bekijkt uw dossier.",
        "Een medewerker neemt spoedig contact met u op.",
        "We bellen u terug op {when}.",
        "{bot_name}, {bot_company}",
    ),
}


@dataclass(frozen=True)
class Facts:
    """What the call recorded, as the templates use it."""

    filled: list[tuple[ClaimField, str]]
    missing: list[ClaimField]
    caller_turns: int
    reminders: list[Reminder]
    tz_name: str


def facts_of(call: CallState) -> Facts:
    schema = call.claim_schema()
    filled = [(f, v) for f in schema if (v := call.claim.get(f.name))]
    # The caller's own number is known from the call: never "missing".
    missing = [f for f in schema if not call.claim.get(f.name) and f.name != "policyholder_phone"]
    turns = sum(
        1
        for m in call.messages
        if m.persona is Persona.HUMAN and m.action in (Action.TALK, Action.SMS) and m.content
    )
    open_ = [r for r in call.reminders if r.status in ("scheduled", "retrying")]
    return Facts(filled, missing, turns, open_, timezone_for(call.initiate.phone_number))


def label(field: ClaimField) -> str:
    """`incident_location` → "Incident location"."""
    text = field.name.replace("_", " ")
    return text[:1].upper() + text[1:]


def _value(field: ClaimField, value: str, tz_name: str) -> str:
    if field.type is ClaimFieldType.DATETIME:
        try:
            return parse_datetime(value, tz_name).strftime("%d %b %Y, %H:%M")
        except ValueError:
            return value
    return value


def _when(moment: datetime, tz_name: str) -> str:
    return moment.astimezone(ZoneInfo(tz_name)).strftime("%d/%m %H:%M")


def topic(call: CallState, facts: Facts) -> str | None:
    """What the call is about in the caller's own words (a description-like field, else the
    first text field that is not a contact detail); None when nothing says it."""
    about = [f for f, _ in facts.filled if any(w in f.name for w in _ABOUT_WORDS)]
    texts = [f for f, _ in facts.filled if f.type is ClaimFieldType.TEXT]
    texts = [f for f in texts if f.name not in _CONTACT_FIELDS]
    if not about and not texts:
        return None
    field = (about or texts)[0]
    text = " ".join(str(call.claim[field.name]).split()).rstrip(" .!?")
    if len(text) > SHORT_MAX_CHARS:
        text = text[:SHORT_MAX_CHARS].rsplit(" ", 1)[0] + "…"
    return text


def short_summary(call: CallState, facts: Facts) -> str:
    return topic(call, facts) or f"your call with {call.initiate.bot_company}"


def synthesis_from_facts(call: CallState) -> Synthesis:
    facts = facts_of(call)
    lines = [f"**Recorded** ({len(facts.filled)} of {len(call.claim_schema())} details)"]
    lines += [f"- {label(f)}: {_value(f, v, facts.tz_name)}" for f, v in facts.filled] or [
        "- nothing yet"
    ]
    if facts.missing:
        lines += ["", "**Still missing**: " + ", ".join(label(f).lower() for f in facts.missing)]
    if facts.reminders:
        lines += ["", "**Follow-ups**"]
        lines += [f"- {r.title} ({_when(r.due_date_time, facts.tz_name)})" for r in facts.reminders]
    if call.closed_claims:
        lines += ["", f"**Earlier claims in this call**: {len(call.closed_claims)}"]
        schema = call.claim_schema()
        for number, closed in enumerate(call.closed_claims, 1):
            given = [(f, v) for f in schema if (v := closed.claim.get(f.name))]
            values = "; ".join(f"{label(f)}: {_value(f, v, facts.tz_name)}" for f, v in given)
            lines.append(f"- Claim {number}: {values or 'nothing given'}")
    for emergency in call.emergencies:
        lines += ["", f"**Emergency**: {emergency.service}, {emergency.reason}"]
    if call.handoff is not None:
        lines += ["", f"**Hand-off to an agent**: {call.handoff.status}"]
    lines += ["", f"_{facts.caller_turns} caller turns; summary built from the recorded facts._"]
    suggestion = (
        "Ask for the missing details at the follow-up: "
        + ", ".join(label(f).lower() for f in facts.missing)
        + "."
        if facts.missing
        else "None: every detail was recorded."
    )
    return Synthesis(
        long="\n".join(lines),
        short=short_summary(call, facts),
        satisfaction=Satisfaction.UNKNOW,  # a template cannot judge how the caller felt
        improvement_suggestions=suggestion,
    )


def next_from_facts(call: CallState) -> Next:
    facts = facts_of(call)
    if call.emergencies:
        first = call.emergencies[0]
        return Next(
            action=NextAction.HIGH_PRIORITY,
            justification=f"An emergency was reported ({first.service}: {first.reason}).",
        )
    if call.handoff is not None and call.handoff.status in ("failed", "queued", "requested"):
        return Next(
            action=NextAction.HIGH_PRIORITY,
            justification="The caller asked for a human agent, who has not talked to them yet.",
        )
    if facts.missing:
        names = ", ".join(label(f).lower() for f in facts.missing)
        return Next(
            action=NextAction.CUSTOMER_WILL_SEND_INFO, justification=f"Still missing: {names}."
        )
    return Next(
        action=NextAction.REQUIRES_EXPERTISE,
        justification="Every detail is recorded: the file is ready for review.",
    )


def sms_from_facts(call: CallState, next_action: Next | None = None) -> str:
    """The SMS summary in the call's language: thanks, what was recorded, what comes next."""
    facts = facts_of(call)
    words = SMS_WORDS.get(call.lang.short_code.split("-")[0].lower(), SMS_WORDS["en"])
    action = (next_action or next_from_facts(call)).action
    name = call.claim.get("policyholder_name")
    parts = [words.thanks.format(name=f", {name}" if name else "")]
    if (about := topic(call, facts)) is not None:
        sentence = words.about.format(short=about)
        # A topic cut short ends in "…", which ends the sentence: no full stop after it.
        parts.append(sentence.replace("….", "…") if about.endswith("…") else sentence)
    if facts.reminders:
        due = facts.reminders[0].due_date_time
        parts.append(words.callback.format(when=_when(due, facts.tz_name)))
    elif action is NextAction.HIGH_PRIORITY:
        parts.append(words.priority)
    elif action is NextAction.CUSTOMER_WILL_SEND_INFO:
        parts.append(words.missing)
    else:
        parts.append(words.expertise)
    initiate = call.initiate
    parts.append(
        words.signature.format(bot_name=initiate.bot_name, bot_company=initiate.bot_company)
    )
    text = " ".join(parts)
    return text if len(text) <= SMS_MAX_CHARS else text[: SMS_MAX_CHARS - 1] + "…"


def usable_text(text: str) -> bool:
    """A model's post-call text that may be kept: not empty, not one of its stock refusals."""
    return bool(text.strip()) and not refuses(text)
