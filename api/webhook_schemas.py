"""OpenAPI descriptions of the webhook bodies (Event Grid, ACS callbacks, Twilio).

The routes parse these bodies themselves, after their credential check (a pydantic body would
be read and validated before it), so the schema is given as `openapi_extra`: clients, docs and
the fuzzer see the shapes the parsers in `providers/` accept.
"""

from __future__ import annotations

from typing import Any

from providers.sms.inbound import SMS_RECEIVED_EVENT

_STRING = {"type": "string"}
_IDENTIFIER: dict[str, Any] = {
    "type": "object",
    "properties": {
        "kind": {"type": "string", "examples": ["phoneNumber"]},
        "rawId": _STRING,
        "phoneNumber": {"type": "object", "properties": {"value": _STRING}},
    },
}
_EVENT_GRID_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "eventType", "data"],
    "properties": {
        "id": _STRING,
        "eventType": {
            "type": "string",
            "examples": [
                "Microsoft.EventGrid.SubscriptionValidationEvent",
                "Microsoft.Communication.IncomingCall",
                SMS_RECEIVED_EVENT,
            ],
        },
        "subject": _STRING,
        "eventTime": {"type": "string", "format": "date-time"},
        "dataVersion": _STRING,
        "data": {
            "type": "object",
            "properties": {
                "validationCode": _STRING,
                "incomingCallContext": _STRING,
                "serverCallId": _STRING,
                "correlationId": _STRING,
                "from": {"oneOf": [_IDENTIFIER, {"type": "string"}]},
                "to": {"oneOf": [_IDENTIFIER, {"type": "string"}]},
                "message": _STRING,
                "messageId": _STRING,
                "receivedTimestamp": {"type": "string", "format": "date-time"},
            },
        },
    },
}
_ERROR_DOCS = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}

EVENT_GRID_OPENAPI: dict[str, Any] = {
    "parameters": [
        {
            "name": "secret",
            "in": "query",
            "required": False,
            "schema": _STRING,
            "description": "telephony.acs.event_grid_secret, in the subscription's URL",
        }
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "array", "items": _EVENT_GRID_EVENT}}},
    },
}
EVENT_GRID_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Accepted (the handshake's answer for a subscription validation)",
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": {"validationResponse": _STRING}}
            }
        },
    },
    400: {
        "description": "Malformed batch: refused whole, Event Grid dead-letters it",
        **_ERROR_DOCS,
    },
    404: {"description": "Telephony is not configured", **_ERROR_DOCS},
}

_CLOUD_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "source", "type", "data"],
    "properties": {
        "id": _STRING,
        "source": {"type": "string", "examples": ["calling/callConnections/abc"]},
        "type": {"type": "string", "examples": ["Microsoft.Communication.CallConnected"]},
        "specversion": {"type": "string", "examples": ["1.0"]},
        "time": {"type": "string", "format": "date-time"},
        "subject": _STRING,
        "datacontenttype": _STRING,
        "data": {
            "type": "object",
            "properties": {
                "callConnectionId": _STRING,
                "serverCallId": _STRING,
                "correlationId": _STRING,
                "operationContext": _STRING,
                "resultInformation": {
                    "type": "object",
                    "properties": {
                        "code": {"type": "integer"},
                        "subCode": {"type": "integer"},
                        "message": _STRING,
                    },
                },
            },
        },
    },
}
CALLBACK_OPENAPI: dict[str, Any] = {
    "parameters": [
        {
            "name": "Authorization",
            "in": "header",
            "required": False,
            "schema": _STRING,
            "description": "Bearer JWT signed by ACS (RS256, audience = the ACS resource id)",
        }
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "array", "items": _CLOUD_EVENT}}},
    },
}
CALLBACK_RESPONSES: dict[int | str, dict[str, Any]] = {
    204: {"description": "Events verified and delivered to the call"},
    400: {"description": "Malformed events", **_ERROR_DOCS},
    401: {"description": "Missing or invalid callback token", **_ERROR_DOCS},
    403: {"description": "Unknown call, wrong secret, or another call's event", **_ERROR_DOCS},
    404: {"description": "Telephony is not configured", **_ERROR_DOCS},
}

TWILIO_OPENAPI: dict[str, Any] = {
    "parameters": [
        {
            "name": "X-Twilio-Signature",
            "in": "header",
            "required": False,
            "schema": _STRING,
            "description": "HMAC-SHA1 of the public URL and the form, with the auth token",
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["From", "To", "MessageSid"],
                    "properties": {
                        "From": {"type": "string", "examples": ["+15555550123"]},
                        "To": {"type": "string", "examples": ["+18005550100"]},
                        "Body": _STRING,
                        "MessageSid": _STRING,
                        "NumMedia": _STRING,
                    },
                }
            }
        },
    },
}
TWILIO_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Taken (empty TwiML: the bot answers later by SMS)",
        "content": {"text/xml": {"schema": _STRING}},
    },
    400: {
        "description": "Malformed or empty message: dropped, Twilio does not retry",
        **_ERROR_DOCS,
    },
    403: {"description": "Invalid X-Twilio-Signature", **_ERROR_DOCS},
    404: {"description": "Twilio is not configured", **_ERROR_DOCS},
}
