"""Temporal search attributes of a call, registered on the server at start."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

PHONE_NUMBER = SearchAttributeKey.for_keyword("CallPhoneNumber")
STATUS = SearchAttributeKey.for_keyword("CallStatus")
BOT_NAME = SearchAttributeKey.for_keyword("BotName")
CLAIM_FILLED = SearchAttributeKey.for_int("ClaimFieldsFilled")

# For `temporal server start-dev --search-attribute NAME=TYPE`.
REGISTRATIONS: dict[str, str] = {
    PHONE_NUMBER.name: "Keyword",
    STATUS.name: "Keyword",
    BOT_NAME.name: "Keyword",
    CLAIM_FILLED.name: "Int",
}


def workflow_id_for(call_id: str) -> str:
    return f"call-{call_id}"
