"""What a warm transfer says to the agent, and to the caller when no agent takes the call.

Pure: built from the call's state only (the claim filled so far, the caller's last words), in
the call's language; the agent's briefing in English and French (any other language briefs in
English: the agent line is the company's, not the caller's), the caller's apology in every
shipped language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.call import Action, CallState, Persona, Reminder
from domain.prompts import phrase

# The caller's words quoted to the agent, at most (a briefing is heard, not read).
MAX_REASON_CHARS = 160
MAX_VALUE_CHARS = 120
# A human agent calls back this long after a warm transfer nobody took (the reminder's due time).
CALL_BACK_AFTER = timedelta(hours=1)
REMINDER_TITLE = "Call back: transfer not taken"


@dataclass(frozen=True)
class _Texts:
    intro: str  # {company}
    reason: str  # {reason}
    no_reason: str
    claim: str  # {fields}
    no_claim: str
    accept: str
    call_back: str
    labels: dict[str, str]


_EN = _Texts(
    intro="Transfer request from the {company} virtual assistant.",
    reason='The caller asked for a person, saying: "{reason}".',
    no_reason="The caller asked for a person.",
    claim="Claim so far: {fields}.",
    no_claim="No claim details were collected yet.",
    accept="Press 1 to take the call, or 2 to decline.",
    call_back="An agent will call you back.",
    labels={},  # the field's description (or its name) as configured
)
_FR = _Texts(
    intro="Demande de transfert de l'assistante virtuelle de {company}.",
    reason="L'appelant demande à parler à un conseiller : « {reason} ».",
    no_reason="L'appelant demande à parler à un conseiller.",
    claim="Dossier à ce stade : {fields}.",
    no_claim="Aucune information du dossier n'a encore été recueillie.",
    accept="Tapez 1 pour prendre l'appel, ou 2 pour refuser.",
    call_back="Un conseiller vous rappellera.",
    labels={
        "policyholder_email": "e-mail",
        "policyholder_name": "nom",
        "policyholder_phone": "téléphone",
        "incident_datetime": "date de l'incident",
        "incident_description": "ce qui s'est passé",
        "incident_location": "lieu",
        "injuries": "blessures",
        "involved_parties": "personnes ou véhicules impliqués",
        "medical_records": "dossier médical",
        "policy_number": "numéro de contrat",
        "pre_existing_damages": "dommages antérieurs",
        "witnesses": "témoins",
    },
)
_TEXTS = {"en": _EN, "fr": _FR}
# The caller hears the call back promised in their own language (the apology's is the call's
# `calltransfer_failure` phrase, shipped in these languages).
_CALL_BACK = {
    "en": _EN.call_back,
    "fr": _FR.call_back,
    "es": "Un agente le devolverá la llamada.",
    "de": "Ein Mitarbeiter ruft Sie zurück.",
    "it": "Un operatore la richiamerà.",
    "pt": "Um assistente irá ligar-lhe de volta.",
    "nl": "Een medewerker belt u terug.",
}


def _texts(call: CallState) -> _Texts:
    return _TEXTS.get(call.lang.short_code.split("-")[0].lower(), _EN)


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def caller_reason(call: CallState) -> str | None:
    """The caller's last words before the transfer: why they asked for a person."""
    for message in reversed(call.messages):
        if message.persona is Persona.HUMAN and message.action is Action.TALK and message.content:
            return _short(message.content, MAX_REASON_CHARS)
    return None


def claim_summary(call: CallState) -> str | None:
    """The filled claim fields, "label: value; …", in the schema's order; None when empty."""
    texts = _texts(call)
    parts = []
    for field in call.claim_schema():
        value = call.claim.get(field.name)
        if not value:
            continue
        label = texts.labels.get(field.name) or field.description or field.name.replace("_", " ")
        parts.append(f"{label}: {_short(value, MAX_VALUE_CHARS)}")
    return "; ".join(parts) or None


def briefing(call: CallState) -> str:
    """What the agent hears before deciding: who transfers, why, and the claim so far."""
    texts = _texts(call)
    reason = caller_reason(call)
    fields = claim_summary(call)
    return " ".join(
        (
            texts.intro.format(company=call.initiate.bot_company),
            texts.reason.format(reason=reason) if reason else texts.no_reason,
            texts.claim.format(fields=fields) if fields else texts.no_claim,
        )
    )


def accept_prompt(call: CallState) -> str:
    """The recognize prompt the agent answers with a key."""
    return _texts(call).accept


def transfer_apology(call: CallState) -> str:
    """What the caller hears back with the bot: the call's apology, and the call back."""
    promise = _CALL_BACK.get(call.lang.short_code.split("-")[0].lower(), _EN.call_back)
    return f"{phrase('calltransfer_failure', call)} {promise}"


def call_back_reminder(call: CallState, now: datetime, why: str) -> Reminder:
    """The reminder of a warm transfer nobody took: a human agent calls the customer back
    (owner "agent": the follow-up texts the agent line when it is due)."""
    description = f"{briefing(call)} Transfer not taken: {why}."
    return Reminder(
        created_at=now,
        title=REMINDER_TITLE,
        description=description[:2_000],
        due_date_time=now + CALL_BACK_AFTER,
        owner="agent",
    )
