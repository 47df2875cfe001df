"""Slots: which claim field the bot asks for next, whether a sentence asks for it, and the
bot's own question when the model's reply did not ask."""

from __future__ import annotations

import re

from domain.call import CallState
from domain.claim import ClaimField, ClaimFieldType
from domain.guardrails.text import fold, is_name_field
from domain.guardrails.words import pattern

# Asked in this order when present; the other fields follow in their schema order.
ASK_FIRST = (
    "incident_description",
    "policyholder_name",
    "policy_number",
    "incident_datetime",
    "incident_location",
)


_ASKS_BY_TYPE = {
    ClaimFieldType.EMAIL: pattern("asks_email"),
    ClaimFieldType.PHONE_NUMBER: pattern("asks_phone"),
    ClaimFieldType.DATETIME: pattern("asks_when"),
}
_ASKS_NAME = pattern("asks_name")
GENERIC_NAME_WORDS = frozenset({"policyholder", "incident", "number", "id", "customer"})
# How the bot asks for the default free-text fields; other fields by the words of their name.
_ASKS_TEXT = {
    "incident_location": re.compile(r"\b(where|location|ou)\b|(?<!mail )\baddress\b"),
    # The greeting ("How can I help you today?") asks what happened too.
    "incident_description": re.compile(
        r"\b(what happened|describe|tell me (more )?about|how can i help|what can i do for you)\b"
    ),
    "injuries": re.compile(r"\b(injur\w*|hurt|blesse\w*)\b"),
    "witnesses": re.compile(r"\b(witness\w*|temoin\w*)\b"),
    "involved_parties": re.compile(r"\b(involved|other (driver|vehicle|car|party))\b"),
    "medical_records": re.compile(r"\b(medical|doctor|hospital)\b"),
    "pre_existing_damages": re.compile(r"\b((existing|earlier|previous|prior) damage\w*)\b"),
}


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
    if is_name_field(field):
        return bool(_ASKS_NAME.search(text))
    if field.name in _ASKS_TEXT:
        return bool(_ASKS_TEXT[field.name].search(text))
    words = [w for w in field.name.split("_") if w not in GENERIC_NAME_WORDS]
    return bool(words) and all(re.search(rf"\b{re.escape(w)}", text) for w in words)


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
    if is_name_field(field):
        return "May I have the name, please?"
    return f"Could you tell me {_what(field)}?"


_ARTICLE = re.compile(r"^(?:the|a|an|your)\s+", re.I)


def _what(field: ClaimField) -> str:
    """What the question names: the field's description where it says what the name says
    (so `asks_for` still recognises it), else the words of its name; said once, not both."""
    described = _ARTICLE.sub("", (field.description or "").strip().rstrip("."))
    if described and asks_for(field, described):
        return f"the {described[:1].lower()}{described[1:]}"
    return f"the {field.name.replace('_', ' ')}"
