"""`core.logs`: what a log line keeps and what it loses, through the real logging machinery."""

from __future__ import annotations

import base64
import io
import logging
import secrets
from collections.abc import Iterator

import pytest

from core import logs

CALLBACK = "/communicationservices/callback/3f1e2a4b-1111-2222-3333-444455556666/"


@pytest.mark.parametrize(
    ("line", "kept", "lost"),
    [
        ("incoming call from +33612345678: new call c-1", "+3361…5678", "+33612345678"),
        ("GET /call?phone_number=%2B33611112222 HTTP/1.1", "+3361…2222", "33611112222"),
        (f"POST {CALLBACK}Ab3_dEf-GhIjKlMnOpQrStUvWxYz0123", CALLBACK, "Ab3_dEf-GhIj"),
        ("ws://gw:8000/media/c-1/tok3n-_Value0123456789abcdefXYZ", "/media/c-1/", "tok3n"),
        ("POST /eventgrid/events?secret=eg-secret&x=1", "secret=[redacted]&x=1", "eg-secret"),
        ("Authorization: Bearer abc.def-ghi", "Bearer [redacted]", "abc.def"),
        ("jwt eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig-nature", "[jwt]", "eyJ"),
        ('{"api_key": "short-but-named"}', '"api_key": "[redacted]"', "short-but-named"),
        ("llm key sk-proj-AbCdEfGhIjKlMnOpQrStUv012345", "llm key [redacted]", "sk-proj"),
        # What must stay readable: ids, paths, code locations.
        ("call c-3f1e2a4b-1111-2222-3333-444455556666 ended", "3f1e2a4b-1111", ""),
        ("GET /calling/callConnections/401f0c00-aaaa:recognize", "callConnections/401f0c00", ""),
        ('File "/x/site-packages/temporalio/worker/_workflow_instance.py"', "_workflow_inst", ""),
        ("status code: 500, signal: user_turn", "code: 500, signal: user_turn", ""),
    ],
)
def test_redact(line: str, kept: str, lost: str) -> None:
    out = logs.redact(line)
    assert kept in out
    assert not lost or lost not in out


def test_an_access_key_is_redacted_in_any_form() -> None:
    key = base64.b64encode(secrets.token_bytes(64)).decode()  # as Azure issues them
    assert key not in logs.redact(f"client built with {key}")
    assert logs.redact(logs.redact(f"access_key={key}")) == "access_key=[redacted]"


@pytest.fixture
def installed() -> Iterator[None]:
    """Redaction on, as a process's `logs.setup` leaves it; off again for the other tests."""
    logs.install()
    try:
        yield
    finally:
        logs.uninstall()


@pytest.fixture
def stream(installed: None) -> Iterator[io.StringIO]:
    """A handler on a logger that does not propagate (as uvicorn's), added after `install`."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    logger = logging.getLogger(logs.ACCESS_LOGGER)
    saved = logger.propagate, logger.level
    logger.propagate, logger.level = False, logging.INFO
    logger.addHandler(handler)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.propagate, logger.level = saved


def test_every_record_is_redacted_even_on_a_logger_that_does_not_propagate(
    stream: io.StringIO,
) -> None:
    access = logging.getLogger(logs.ACCESS_LOGGER)
    # uvicorn's access formatter unpacks these five arguments: they stay five.
    access.info(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5",
        "GET",
        "/call?phone_number=%2B33611112222&limit=3",
        "1.1",
        200,
    )
    access.info("%s", f"POST {CALLBACK}a-secret-segment")
    try:
        raise ValueError("could not call +33612345678")
    except ValueError:
        logging.getLogger("uvicorn.error").exception("failed for %s", "+33698765432")
    text = stream.getvalue()
    assert '"GET /call?phone_number=[redacted]&limit=[redacted] HTTP/1.1" 200' in text
    assert f"{CALLBACK}[redacted]" in text and "a-secret-segment" not in text


def test_an_exception_text_is_redacted(caplog: pytest.LogCaptureFixture, installed: None) -> None:
    with caplog.at_level(logging.INFO):
        try:
            raise ValueError("could not call +33612345678")
        except ValueError:
            logging.getLogger("tests.security").exception("failed for %s", "+33698765432")
    record = caplog.records[-1]
    assert record.getMessage() == "failed for +3369…5432"
    assert record.exc_text is not None and "+3361…5678" in record.exc_text
    assert "+33612345678" not in caplog.text and "+33698765432" not in caplog.text


def test_uninstall_gives_raw_records_back(caplog: pytest.LogCaptureFixture) -> None:
    logs.install()
    logs.uninstall()
    with caplog.at_level(logging.INFO):
        logging.getLogger("tests.security").info("raw %s", "+33612345678")
    assert caplog.records[-1].getMessage() == "raw +33612345678"
