"""One error shape for every failure: `{"error": {"message", "details"}}`.

Every failure keeps it, including an outage of Temporal or Redis (503 with `Retry-After`, so a
client resends the same request, which the routes make safe) and an unexpected bug (500): a
client never has to parse a text/plain error page.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

log = logging.getLogger(__name__)

# Seconds a client should wait before resending after a 503.
RETRY_AFTER_SEC = 2
# Temporal answers that mean "not now": the server is down, overloaded or restarting, or a query
# found the call's workflow task timed out (a worker died) and not yet run again.
_UNAVAILABLE = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.FAILED_PRECONDITION,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.ABORTED,
        RPCStatusCode.CANCELLED,
        RPCStatusCode.UNKNOWN,
    }
)


class ApiError(Exception):
    """Raised by routes for a clear client or dependency error."""

    def __init__(
        self,
        status: int,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []
        self.headers = headers


def unavailable(what: str) -> ApiError:
    """A 503 the client may resend after `Retry-After` seconds."""
    return ApiError(
        503, f"{what} is unavailable, retry later", headers={"Retry-After": str(RETRY_AFTER_SEC)}
    )


def error_body(message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "details": details or []}}


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "claim", 0, "type") → "claim.0.type": the client knows it sent a body.
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:] or parts
    return ".".join(parts)


def validation_details(errors: list[Any]) -> list[dict[str, Any]]:
    return [{"field": _field(e.get("loc", ())), "reason": e.get("msg", "invalid")} for e in errors]


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.message, exc.details), status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = validation_details(list(exc.errors()))
        fields = ", ".join(d["field"] for d in details)
        return JSONResponse(error_body(f"Invalid request: {fields}", details), status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RPCError)
    async def _temporal(request: Request, exc: RPCError) -> JSONResponse:
        if exc.status in _UNAVAILABLE:
            log.warning("%s %s: Temporal unavailable: %s", request.method, request.url.path, exc)
            return await _api_error(request, unavailable("the workflow service"))
        log.error("%s %s: Temporal refused: %s", request.method, request.url.path, exc)
        return JSONResponse(error_body(f"workflow service error: {exc.message}"), status_code=502)

    @app.exception_handler(WorkflowUpdateRPCTimeoutOrCancelledError)
    async def _update_timeout(request: Request, exc: Exception) -> JSONResponse:
        # The turn may still complete: the resend (same turn id) gets its outcome.
        log.warning("%s %s: update outcome not known yet: %s", request.method, request.url, exc)
        return await _api_error(request, unavailable("the answer"))

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    async def _redis(request: Request, exc: Exception) -> JSONResponse:
        log.warning("%s %s: Redis unavailable: %s", request.method, request.url.path, exc)
        return await _api_error(request, unavailable("the state store"))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse(error_body("internal error"), status_code=500)
