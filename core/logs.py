"""Logging that keeps customers' numbers and the secrets guarding each call out of log lines.

Every process calls `setup()` at start-up. Redaction happens when a record is created (a
record factory), so it covers every logger and every handler, including the ones uvicorn and
aiohttp configure after us and loggers that do not propagate to the root ("uvicorn.access").
`RedactingFilter` does the same work for a handler or logger set up elsewhere.

What is rewritten:
- E.164 numbers (also URL-encoded, `%2B33...`) are masked with `domain.phone.mask`;
- the secret path segment of callback and media URLs (`/callback/{call_id}/{secret}`);
- values of secret-looking query parameters and `key=value` / `"key": "value"` pairs
  (secret, token, key, signature, password, code);
- JWTs, `Bearer ...` credentials and long opaque base64 keys.
The uvicorn access log loses every query value: a route is worth logging, its arguments are
the caller's (a phone number to search, an Event Grid secret).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from typing import Any

from domain.phone import mask

REDACTED = "[redacted]"
ACCESS_LOGGER = "uvicorn.access"

_E164 = re.compile(r"(?<![\w+%])(\+|%2[Bb])(\d{8,15})(?!\d)")
_SECRET_SEGMENT = re.compile(r"(/(?:callback|callbacks|media)/[^/\s?#\"']+/)[^/\s?#\"'&]+")
# Query parameters: SAS URLs sign with `sig`, OAuth redirects carry a `code`.
_QUERY_WORD = r"[\w.-]*(?:secret|token|key|signature|sig|password|code|credential)[\w.-]*"
_PAIR_WORD = r"[\w.-]*(?:secret|token|key|signature|password|credential)[\w.-]*"
_QUERY_SECRET = re.compile(rf"(?i)([?&]{_QUERY_WORD}=)[^&\s\"'#]+")
_PAIR_SECRET = re.compile(
    rf"(?i)(\b{_PAIR_WORD}[\"']?\s*[:=]\s*[\"']?)(?!{re.escape(REDACTED)})([^\s\"'&,;)]+)"
)
_JWT = re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")
_BEARER = re.compile(r"(?i)\b(bearer|hmac-sha256|sharedaccesssignature)(\s+)[^\s,;\"']+")
# Provider API keys that announce themselves ("sk-proj-...").
_PREFIXED_KEY = re.compile(r"\b(?:sk|pk|rk)-[\w-]{16,}", re.ASCII)
# Opaque keys (API keys, tokens): long runs of one word mixing cases and digits. A '-' or a
# '/' ends a run, so ids (UUIDs) and URL paths are not taken for keys.
_OPAQUE = re.compile(
    r"(?<![\w+=/-])(?=[\w+]*\d)(?=[\w+]*[a-z])(?=[\w+]*[A-Z])[\w+]{32,}={0,2}(?![\w+=/-])",
    re.ASCII,
)
# Base64 keys (ACS access keys): '/' is one of their digits, but a path never holds a '+' and
# never ends with '=' padding.
_BASE64 = re.compile(
    r"(?<![\w+=/-])(?:(?=[A-Za-z0-9/]*\+)[A-Za-z0-9+/]{40,}={0,2}|[A-Za-z0-9+/]{40,}={1,2})"
    r"(?![\w+=/-])",
    re.ASCII,
)
_QUERY_VALUE = re.compile(r"([?&][^=&\s\"'#]+=)[^&\s\"'#]+")


def _number(match: re.Match[str]) -> str:
    return mask("+" + match.group(2))


def redact(text: str) -> str:
    """`text` without full phone numbers, secrets, tokens or keys."""
    text = _SECRET_SEGMENT.sub(rf"\1{REDACTED}", text)
    text = _JWT.sub("[jwt]", text)
    text = _BEARER.sub(rf"\1\2{REDACTED}", text)
    text = _QUERY_SECRET.sub(rf"\1{REDACTED}", text)
    text = _PAIR_SECRET.sub(rf"\1{REDACTED}", text)
    text = _PREFIXED_KEY.sub(REDACTED, text)
    text = _BASE64.sub(REDACTED, text)
    text = _OPAQUE.sub(REDACTED, text)
    return _E164.sub(_number, text)


def redact_query(text: str) -> str:
    """`text` with every query value dropped (access logs), then `redact`."""
    return redact(_QUERY_VALUE.sub(rf"\1{REDACTED}", text))


def _clean_arg(value: object, clean: Callable[[str], str]) -> object:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    text = str(value)
    cleaned = clean(text)
    return value if cleaned == text else cleaned


def redact_record(record: logging.LogRecord) -> None:
    """Rewrite `record` in place: its message, arguments, exception and stack text."""
    clean = redact_query if record.name == ACCESS_LOGGER else redact
    if isinstance(record.msg, str):
        record.msg = clean(record.msg)
    elif record.msg is not None:
        record.msg = clean(str(record.msg))
    if isinstance(record.args, tuple):
        # Arguments one by one: formatters such as uvicorn's access one unpack them.
        record.args = tuple(_clean_arg(arg, clean) for arg in record.args)
    elif isinstance(record.args, dict):
        record.args = {key: _clean_arg(arg, clean) for key, arg in record.args.items()}
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = clean(record.exc_text)
    if record.stack_info:
        record.stack_info = clean(record.stack_info)


class RedactingFilter(logging.Filter):
    """Redacts each record it sees (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_previous: Callable[..., logging.LogRecord] | None = None


def install() -> None:
    """Redact every record this process creates from now on (idempotent)."""
    global _previous
    if _previous is not None:
        return
    previous = _previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        redact_record(record)
        return record

    logging.setLogRecordFactory(factory)


def uninstall() -> None:
    """Back to the factory `install` replaced (tests that must see the raw records)."""
    global _previous
    if _previous is not None:
        logging.setLogRecordFactory(_previous)
        _previous = None


def setup(level: str | int | None = None, fmt: str | None = None) -> None:
    """A process's logging: `basicConfig` at `$LOG_LEVEL` (INFO), with redaction installed."""
    install()
    logging.basicConfig(
        level=level if level is not None else os.environ.get("LOG_LEVEL", "INFO"),
        format=fmt or "%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging configuration, with the redacting filter on its handlers (a
    second guard for the access log, whose records do not reach the root logger)."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = {
        **LOGGING_CONFIG,
        "filters": {"redact": {"()": RedactingFilter}},
        "handlers": {
            name: {**handler, "filters": ["redact"]}
            for name, handler in LOGGING_CONFIG["handlers"].items()
        },
    }
    return config
