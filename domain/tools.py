"""The ten tools the LLM can call: their JSON schemas and argument models.

Schemas are generated from the call (claim fields, languages) so the model sees exactly the
fields and values it may use.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from domain.call import CallState
from domain.claim import ClaimFieldType, FieldUpdate


class ToolName(StrEnum):
    END_CALL = "end_call"
    NEW_CLAIM = "new_claim"
    NEW_OR_UPDATED_REMINDER = "new_or_updated_reminder"
    UPDATED_CLAIM = "updated_claim"
    TALK_TO_HUMAN = "talk_to_human"
    SEARCH_DOCUMENT = "search_document"
    NOTIFY_EMERGENCIES = "notify_emergencies"
    SEND_SMS = "send_sms"
    SPEECH_SPEED = "speech_speed"
    SPEECH_LANG = "speech_lang"


TOOL_NAMES = frozenset(t.value for t in ToolName)

EmergencyService = Literal["police", "firefighters", "pharmacy", "veterinarian", "hospital"]


class ToolArgs(BaseModel):
    """Every tool takes an optional short sentence said to the customer while it runs."""

    customer_response: str = Field(default="", max_length=500)


class UpdatedClaimArgs(ToolArgs):
    updates: list[FieldUpdate] = Field(min_length=1, max_length=30)


class ReminderArgs(ToolArgs):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2_000)
    due_date_time: str
    owner: str | None = None


class SpeechSpeedArgs(ToolArgs):
    speed: float


class SpeechLangArgs(ToolArgs):
    lang: str


class SearchDocumentArgs(ToolArgs):
    queries: list[str] = Field(min_length=1, max_length=10)


class NotifyEmergenciesArgs(ToolArgs):
    reason: str = Field(min_length=1)
    location: str = Field(min_length=1)
    contact: str = Field(min_length=1)
    service: EmergencyService


class SendSmsArgs(ToolArgs):
    message: str = Field(min_length=1, max_length=1_600)


ARGS_MODELS: dict[str, type[ToolArgs]] = {
    ToolName.END_CALL: ToolArgs,
    ToolName.NEW_CLAIM: ToolArgs,
    ToolName.TALK_TO_HUMAN: ToolArgs,
    ToolName.UPDATED_CLAIM: UpdatedClaimArgs,
    ToolName.NEW_OR_UPDATED_REMINDER: ReminderArgs,
    ToolName.SPEECH_SPEED: SpeechSpeedArgs,
    ToolName.SPEECH_LANG: SpeechLangArgs,
    ToolName.SEARCH_DOCUMENT: SearchDocumentArgs,
    ToolName.NOTIFY_EMERGENCIES: NotifyEmergenciesArgs,
    ToolName.SEND_SMS: SendSmsArgs,
}

_FORMAT_HINT = {
    ClaimFieldType.TEXT: "free text",
    ClaimFieldType.DATETIME: "date and time as YYYY-MM-DD HH:MM in the customer's timezone",
    ClaimFieldType.EMAIL: "email address",
    ClaimFieldType.PHONE_NUMBER: "phone number in E.164, e.g. +33612345678",
}

_COMPACT_HINT = {
    ClaimFieldType.TEXT: "",
    ClaimFieldType.DATETIME: " (YYYY-MM-DD HH:MM)",
    ClaimFieldType.EMAIL: " (email)",
    ClaimFieldType.PHONE_NUMBER: " (+ and country code)",
}

_RESPONSE = {
    "type": "string",
    "description": "Short sentence said to the customer while this runs, in their language",
}


def _tool(
    name: str, description: str, properties: dict[str, Any], required: list[str]
) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {**properties, "customer_response": _RESPONSE},
                "required": required,
            },
        },
    }


def tool_schemas(
    call: CallState,
    blacklist: frozenset[str] = frozenset(),
    *,
    customer_response: bool = True,
    compact: bool = False,
) -> list[dict[str, Any]]:
    """OpenAI `tools` for this call, without the blacklisted ones.

    For a small model (`compact`): no `customer_response` parameter (it says its sentence as
    text) and the claim fields listed by name and format only.
    """
    tools = _schemas(call, compact=compact)
    if not customer_response:
        for tool in tools:
            del tool["function"]["parameters"]["properties"]["customer_response"]
    return [t for t in tools if t["function"]["name"] not in blacklist]


def _schemas(call: CallState, *, compact: bool) -> list[dict[str, Any]]:
    fields = call.claim_schema()
    field_doc = "; ".join(
        f"{f.name} ({_FORMAT_HINT[f.type]}{': ' + f.description if f.description else ''})"
        if not compact
        else f"{f.name}{_COMPACT_HINT[f.type]}"
        for f in fields
    )
    langs = [lang.short_code for lang in call.initiate.lang.availables]
    return [
        _tool(
            ToolName.UPDATED_CLAIM,
            "Store values the customer gave for claim fields. Call it as soon as you learn a "
            f"value. Fields: {field_doc}.",
            {
                "updates": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "field": {"type": "string", "enum": [f.name for f in fields]},
                            "value": {"type": "string", "description": "The value, formatted"},
                        },
                        "required": ["field", "value"],
                    },
                }
            },
            ["updates"],
        ),
        _tool(
            ToolName.NEW_OR_UPDATED_REMINDER,
            "Create a reminder for a follow-up, or update the one with the same title.",
            {
                "title": {"type": "string", "description": "Short unique title, e.g. 'Call back'"},
                "description": {"type": "string", "description": "What must be done"},
                "due_date_time": {
                    "type": "string",
                    "description": "When, as YYYY-MM-DD HH:MM in the customer's timezone",
                },
                "owner": {
                    "type": "string",
                    "description": "Who does it: 'assistant', 'customer' or an agent name",
                },
            },
            ["title", "description", "due_date_time"],
        ),
        _tool(
            ToolName.NEW_CLAIM,
            "Start a new claim for a different incident. Only when the customer explicitly "
            "reports another incident and the current claim is already filled.",
            {},
            [],
        ),
        _tool(
            ToolName.END_CALL,
            "Hang up. Only when the customer said goodbye or asked to end the call.",
            {},
            [],
        ),
        _tool(
            ToolName.TALK_TO_HUMAN,
            "Transfer the customer to a human agent. Only when they explicitly ask for it.",
            {},
            [],
        ),
        _tool(
            ToolName.SEARCH_DOCUMENT,
            "Search the internal documentation (contracts, procedures, FAQ).",
            {
                "queries": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "One to three search queries in English",
                }
            },
            ["queries"],
        ),
        _tool(
            ToolName.NOTIFY_EMERGENCIES,
            "Alert emergency services when someone is in danger right now.",
            {
                "reason": {"type": "string"},
                "location": {"type": "string"},
                "contact": {"type": "string", "description": "Phone number to reach"},
                "service": {
                    "type": "string",
                    "enum": ["police", "firefighters", "pharmacy", "veterinarian", "hospital"],
                },
            },
            ["reason", "location", "contact", "service"],
        ),
        _tool(
            ToolName.SEND_SMS,
            "Send a text message to the customer, e.g. to confirm details in writing.",
            {"message": {"type": "string"}},
            ["message"],
        ),
        _tool(
            ToolName.SPEECH_SPEED,
            "Change how fast you speak, when the customer asks.",
            {"speed": {"type": "number", "minimum": 0.75, "maximum": 1.25}},
            ["speed"],
        ),
        _tool(
            ToolName.SPEECH_LANG,
            "Switch the language you speak, when the customer asks or speaks another one.",
            {"lang": {"type": "string", "enum": langs}},
            ["lang"],
        ),
    ]
