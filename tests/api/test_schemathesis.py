"""Schemathesis fuzzes every operation of the OpenAPI schema, with and without credentials.

The real app behind a real uvicorn socket, on the real stack (Temporal dev server and worker,
Redis, SQLite, the scripted LLM), telephony and Twilio configured so the webhooks are live.
Each generated request is sent twice: with the key (and, for the webhooks, the credential they
check: Event Grid's secret, a live call's callback secret and a signed ACS token, a valid
Twilio signature) so the fuzz reaches the parsers, and with none, which must be refused. Every
answer must be below 500 and match the schema: its status, content type, body and headers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.guard import rule_for
from providers.sms.twilio import twilio_signature
from tests.api.test_api_hardening import (
    API_KEY,
    PUBLIC,
    TWILIO_TOKEN,
    app_for,
    hardened_settings,
    served,
)
from tests.conftest import Stack
from tests.telephony.test_acs_auth import AUDIENCE, ISSUER, FakeJwks, _token
from tests.telephony.test_acs_auth import issuer as issuer  # noqa: F401 - the JWKS fixture
from tests.telephony.test_callback_security import open_call

# Examples per operation and generation mode: every operation x 2 modes x 2 credentials. A deeper
# run, fresh examples each time: SCHEMATHESIS_EXAMPLES=1000 pytest tests/api/test_schemathesis.py
DEEP = os.environ.get("SCHEMATHESIS_EXAMPLES")
EXAMPLES = int(DEEP) if DEEP else 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
EVENT_GRID_SECRET = "fuzz-event-grid-secret"
log = logging.getLogger(__name__)


async def test_fuzzing_every_operation_finds_no_5xx_and_answers_match_the_schema(
    stack: Stack, issuer: FakeJwks, record_property: Callable[[str, object], None]
) -> None:
    settings = hardened_settings(
        stack,
        telephony={
            "kind": "acs",
            "public_url": PUBLIC,
            "acs": {
                "endpoint": "http://127.0.0.1:9",
                "access_key": "a2V5",
                "phone_number": "+14255550100",
                "resource_id": AUDIENCE,
                "jwks_url": issuer.url,
                "issuer": ISSUER,
                "event_grid_secret": EVENT_GRID_SECRET,
            },
        },
    )
    app = app_for(stack, settings)
    call_id, secret = await open_call(stack, "conn-fuzz")
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations: list[Any] = [op.ok() for op in schema.get_all_operations()]  # type: ignore[union-attr]
    document = app.openapi()["paths"]
    expected = sum(1 for methods in document.values() for m in methods if m != "parameters")
    assert len(operations) == expected >= 25, [o.label for o in operations]

    chat_id = await stack.start_call(phone_number="+33612000095")  # a chat call to talk to

    def credentials(case: Any) -> None:
        """Give the case what a legitimate caller would send, so the fuzz gets past the door:
        the key, the webhooks' own credentials, a live call's id, a valid number to call."""
        path = case.operation.path
        headers = dict(case.headers or {})
        if path.startswith("/eventgrid/"):
            case.query = {**(case.query or {}), "secret": EVENT_GRID_SECRET}
        elif path.startswith("/communicationservices/"):
            case.path_parameters = {"call_id": call_id, "secret": secret}
            headers["Authorization"] = f"Bearer {_token()}"
        elif path.startswith("/twilio/"):
            if isinstance(case.body, dict):
                form = {str(k): str(v) for k, v in case.body.items()}
                form |= {"From": "+33612000097", "To": "+15005550006"}  # past the number check
                case.body = form
                url = f"{PUBLIC}{path}"
                headers["X-Twilio-Signature"] = twilio_signature(url, form, TWILIO_TOKEN)
        else:
            headers["X-API-Key"] = API_KEY
        if "{call_id}" in path and not path.startswith("/communicationservices/"):
            case.path_parameters = {**(case.path_parameters or {}), "call_id": chat_id}
        if path == "/call" and case.method == "POST" and isinstance(case.body, dict):
            case.body = {**case.body, "phone_number": "+33612000096"}
        case.headers = headers

    async with served(app) as port:
        base = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        counts, statuses, positive_only = await asyncio.to_thread(
            fuzz, operations, base, credentials
        )
        elapsed = time.monotonic() - started
        # The stack still works after the fuzz: a call placed and answered over the socket.
        async with httpx.AsyncClient(base_url=base, headers={"X-API-Key": API_KEY}) as http:
            placed = await http.post("/call", json={"phone_number": "+33612000093"})
    assert placed.status_code == 201, placed.text
    total = sum(counts.values())
    record_property("schemathesis_requests", total)
    log.info("schemathesis: %d requests in %.1f s; %s", total, elapsed, sorted(statuses.items()))
    assert len(counts) == len(operations)  # every operation was exercised
    # Operations that take input got every example (health has none: one case each).
    for operation in operations:
        if _has_inputs(operation):
            modes = 1 if operation.label in positive_only else 2
            assert counts[operation.label] == 2 * modes * EXAMPLES, operation.label
    assert len(positive_only) <= 2, positive_only  # the signed links' pages only
    assert not any(status >= 500 for status in statuses)
    assert statuses[401] > 0 and statuses[200] > 0 and statuses[422] > 0


def fuzz(
    operations: list[Any], base: str, credentials: Callable[[Any], None]
) -> tuple[Counter[str], Counter[int], set[str]]:
    counts: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    per_operation: Counter[str] = Counter()
    positive_only: set[str] = set()
    lock = threading.Lock()
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            if mode is GenerationMode.NEGATIVE and not _has_inputs(operation):
                continue

            @hypothesis_settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=not DEEP,  # make test: the same seed every run
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                # Without any credential first: the generated case, untouched.
                keyless = case.call(base_url=base, timeout=30)
                case.validate_response(keyless, checks=CHECKS)
                if rule_for(case.operation.path).needs_key:
                    assert keyless.status_code == 401, (case.operation.label, keyless.text)
                credentials(case)
                keyed = case.call(base_url=base, timeout=30)
                case.validate_response(keyed, checks=CHECKS)
                with lock:
                    counts[case.operation.label] += 2
                    statuses[keyless.status_code] += 1
                    statuses[keyed.status_code] += 1
                    per_operation[f"{case.operation.label} {keyed.status_code}"] += 1

            try:
                run()
            except Unsatisfiable:
                # Nothing it takes can be invalid (a free-form path segment and query strings,
                # as a signed link's): no negative case exists.
                if mode is GenerationMode.POSITIVE:
                    raise
                positive_only.add(operation.label)
    log.info("with credentials: %s", sorted(per_operation.items()))
    return counts, statuses, positive_only


def _has_inputs(operation: Any) -> bool:
    definition = operation.definition.raw
    return bool(definition.get("parameters") or definition.get("requestBody"))
