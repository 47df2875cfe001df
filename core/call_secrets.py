"""A call's two secrets: the one in its ACS callback URL and the token in its media URL.

Both are HMAC-SHA256 of the call id under `telephony.call_secret_key`, one purpose each, so
whoever holds the key computes them again when needed: the worker building the URLs, the API
checking a callback, the media gateway checking a stream. Nothing else holds them, so they
never enter a workflow input, an activity input or result, or a recorded history.

Calls started before the secrets were derived carry random ones in their state
(`CallState.callback_secret`, `CallState.media_token`); those stay valid until the calls end.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from pydantic import SecretStr

CALLBACK = "acs-callback"
MEDIA = "media-stream"


def derive(key: SecretStr, purpose: str, call_id: str) -> str:
    """The secret of `call_id` for `purpose`: URL-safe, 43 characters (256 bits)."""
    message = f"{purpose}\0{call_id}".encode()
    digest = hmac.new(key.get_secret_value().encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def callback_secret(key: SecretStr, call_id: str) -> str:
    return derive(key, CALLBACK, call_id)


def media_token(key: SecretStr, call_id: str) -> str:
    return derive(key, MEDIA, call_id)


def matches(given: str, derived: str, legacy: str | None = None) -> bool:
    """`given` is the derived secret, or the random one a call started before derivation holds.

    Constant time in `given`'s value: both comparisons always run.
    """
    ok = hmac.compare_digest(derived.encode(), given.encode())
    old = hmac.compare_digest(legacy.encode(), given.encode()) if legacy else False
    return ok or old
