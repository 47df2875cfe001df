"""ACS-shaped error responses: `{"error": {"code", "message"}}`."""

from __future__ import annotations

import json

from aiohttp import web


class AcsError(Exception):
    """Raised by handlers; the REST layer turns it into the Azure error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        return error_response(self.status, self.code, self.message)


def error_response(status: int, code: str, message: str) -> web.Response:
    body = json.dumps({"error": {"code": code, "message": message}})
    return web.Response(status=status, text=body, content_type="application/json")


# The errors ACS answers most often; codes are the documented Call Automation subcodes.
def denied(reason: str) -> AcsError:
    return AcsError(401, "Denied", f"Denied by the resource provider. ({reason})")


def bad_request(message: str) -> AcsError:
    return AcsError(400, "8523", f"Invalid request. {message}")


def call_not_found(connection_id: str) -> AcsError:
    return AcsError(404, "8522", f"Call not found: {connection_id}.")


def call_terminated(connection_id: str) -> AcsError:
    return AcsError(400, "8528", f"Action is not supported, call {connection_id} is terminated.")


def call_not_established(connection_id: str) -> AcsError:
    return AcsError(
        400, "8501", f"Action is not supported, call {connection_id} is not established."
    )


def not_implemented(what: str) -> AcsError:
    return AcsError(501, "NotImplemented", f"{what} is not emulated by acs_emulator.")
