"""Encryption of every payload Temporal stores, and the data converter every process uses.

Workflow and activity inputs and results, signals, updates, queries and memos hold what a
caller said, their number and the call's secrets: the Temporal server (and whoever reads its
database or UI) sees them only as `binary/encrypted` payloads. AES-256-GCM with a random 12-byte
nonce per payload; the key id travels in the payload's metadata so a rotated key can still
decrypt what it wrote. Error messages and stack traces go through the codec too (the failure
converter moves them into an encoded payload). Search attributes and workflow ids are not
payloads: they stay plaintext, so nothing personal goes there (`domain/attributes.py`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from core.settings import CodecSettings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
# Bumping this derives different AES keys from the same secrets: a new format, not a rotation.
_KDF_INFO = b"callcenter temporal payload codec v1"


class UnknownKeyError(ValueError):
    """A payload was encrypted under a key id this process was not given."""


class TamperedPayloadError(ValueError):
    """The payload's authentication tag does not match: altered, truncated or another key."""


def derive_key(secret: str) -> bytes:
    """The AES-256 key of a configured secret (any string of >= 32 bytes, e.g. base64)."""
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KDF_INFO)
    return kdf.derive(secret.encode())


class EncryptionCodec(PayloadCodec):
    """AES-GCM under `current` for new payloads; any key of `keys` for old ones."""

    def __init__(self, keys: Mapping[str, bytes], current: str) -> None:
        if current not in keys:
            raise ValueError(f"current key {current!r} is not among the keys")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._current = current

    @classmethod
    def from_settings(cls, settings: CodecSettings) -> EncryptionCodec:
        keys = {key_id: derive_key(s.get_secret_value()) for key_id, s in settings.keys.items()}
        return cls(keys, settings.current_key)

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self._current].encrypt(nonce, payload.SerializeToString(), None)
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID: self._current.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        # Payloads written before encryption was switched on stay readable (a running call's
        # history keeps them); everything new is encrypted.
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode("utf-8", "replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKeyError(f"payload encrypted with unknown key id {key_id!r}")
        data = payload.data
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], None)
        except InvalidTag:
            message = f"payload under key id {key_id!r} fails authentication"
            raise TamperedPayloadError(message) from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded

    def reencrypt(self, payloads: Iterable[Payload]) -> list[Payload]:
        """Under the current key, whatever key (or none) they were written with."""
        return [self.encrypt(self.decrypt(p)) for p in payloads]


def data_converter(settings: CodecSettings) -> DataConverter:
    """Pydantic models as JSON, then encrypted; failures' messages and traces encrypted too."""
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec.from_settings(settings),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
