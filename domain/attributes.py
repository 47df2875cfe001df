"""Temporal search attributes of a call, registered on the server at start."""

from __future__ import annotations

import hashlib
import hmac

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

# Search attributes are stored and shown in plaintext (they bypass the payload codec): this one
# holds `phone_key(number)`, never the number itself.
PHONE_NUMBER = SearchAttributeKey.for_keyword("CallPhoneNumber")
STATUS = SearchAttributeKey.for_keyword("CallStatus")
BOT_NAME = SearchAttributeKey.for_keyword("BotName")
CLAIM_FILLED = SearchAttributeKey.for_int("ClaimFieldsFilled")
# How the call ended (`domain/outcome.py`); unset while it runs.
OUTCOME = SearchAttributeKey.for_keyword("CallOutcome")

# For `temporal server start-dev --search-attribute NAME=TYPE`.
REGISTRATIONS: dict[str, str] = {
    PHONE_NUMBER.name: "Keyword",
    STATUS.name: "Keyword",
    BOT_NAME.name: "Keyword",
    CLAIM_FILLED.name: "Int",
    OUTCOME.name: "Keyword",
}


def workflow_id_for(call_id: str) -> str:
    return f"call-{call_id}"


PHONE_KEY_HEX = 16


def phone_key(e164: str, secret: str) -> str:
    """The `CallPhoneNumber` of a number: HMAC-SHA256 under `secret`, 64 bits in hex.

    Keyed, so the value cannot be reversed by hashing every possible number (there are only
    ~10^11 of them per country); 64 bits keep collisions out of any call center's volume.
    """
    digest = hmac.new(secret.encode(), e164.encode(), hashlib.sha256).hexdigest()
    return digest[:PHONE_KEY_HEX]


def keyed_phone(key: str) -> TypedSearchAttributes:
    """Start attributes of a run whose starter sets only the phone key (the workflow upserts
    the others; it cannot compute this one, the hash secret stays out of workflow code)."""
    return TypedSearchAttributes([SearchAttributePair(PHONE_NUMBER, key)])
