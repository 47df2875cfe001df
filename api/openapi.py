"""The OpenAPI schema tells the truth about failures too: every error a route can answer.

Routes document their own success bodies and route-specific errors (404, 409, 400…). What the
guard and the error handlers add to every route is documented here, in one place: 401 where a
credential is checked, 413 where a body is taken, 422 and 503 in the `{"error": …}` shape (not
FastAPI's default `{"detail": …}`, which this API never sends).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.guard import rule_for

ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "details"],
            "properties": {
                "message": {"type": "string"},
                "details": {"type": "array", "items": {"type": "object"}},
            },
        }
    },
}
# Routes that check a credential of their own (not the API key) before anything else.
_OWN_CREDENTIAL = ("/codec/decode", "/codec/encode", "/codec/session", "/eventgrid/")
_BODY_METHODS = {"post", "put", "patch"}
_DESCRIPTIONS = {
    "400": "A body that cannot be parsed (not UTF-8, not JSON, not a form)",
    "401": "Missing or invalid credential",
    "413": "Request body over this route's cap",
    "422": "Invalid parameters or body",
    "503": "A dependency (Temporal, Redis, the store) is unavailable: resend after Retry-After",
}


def install(app: FastAPI, key_header: str) -> None:
    def schema() -> dict[str, Any]:
        if app.openapi_schema is None:
            base = get_openapi(title=app.title, version=app.version, routes=app.routes)
            app.openapi_schema = document_errors(base, key_header)
        return app.openapi_schema

    app.openapi = schema  # type: ignore[method-assign]


def document_errors(schema: dict[str, Any], key_header: str) -> dict[str, Any]:
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components.setdefault("securitySchemes", {})["ApiKey"] = {
        "type": "apiKey",
        "in": "header",
        "name": key_header,
    }
    for path, operations in schema.get("paths", {}).items():
        rule = rule_for(path)
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            codes = {"422"}
            if rule.needs_key:
                codes.add("401")
                operation["security"] = [{"ApiKey": []}]
            if path.startswith(_OWN_CREDENTIAL):
                codes.add("401")
            if method in _BODY_METHODS:
                codes |= {"400", "413"}
            if path != "/health/liveness":
                codes.add("503")
            for code in codes:
                _error_response(responses, code)
            for code in list(responses):
                if code.startswith(("4", "5")):
                    _error_response(responses, code)
    return schema


def _error_response(responses: dict[str, Any], code: str) -> None:
    """`code` answered with the error shape, keeping a route's own description and schema."""
    entry = responses.setdefault(code, {"description": _DESCRIPTIONS.get(code, "Error")})
    content = entry.setdefault("content", {})
    json_body = content.get("application/json")
    if json_body is None or _is_fastapi_default(json_body):
        content["application/json"] = {"schema": ERROR_REF}


def _is_fastapi_default(body: dict[str, Any]) -> bool:
    ref = body.get("schema", {}).get("$ref", "")
    return isinstance(ref, str) and ref.endswith("/HTTPValidationError")
