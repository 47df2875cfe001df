"""The payload keys of the test suite: the recorded histories are encrypted under `TEST_CODEC`.

Two key ids, so every test client already runs with a rotated key ring: "test-2026" encrypts,
"test-2025" (what an older history may have been written with) still decrypts.
"""

from __future__ import annotations

from pydantic import SecretStr
from temporalio.converter import DataConverter

from core.codec import data_converter
from core.settings import CodecSettings

TEST_CODEC = CodecSettings(
    keys={
        "test-2025": SecretStr("test-only-payload-key-2025-not-a-secret-0123456789"),
        "test-2026": SecretStr("test-only-payload-key-2026-not-a-secret-0123456789"),
    },
    current_key="test-2026",
    phone_hash_key=SecretStr("test-only-phone-hash-key-not-a-secret-0123456789"),
)


def codec_converter() -> DataConverter:
    return data_converter(TEST_CODEC)
