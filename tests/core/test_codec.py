"""The payload codec: encryption, key rotation, failures encoded, and the keys' settings."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHistory
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from core.codec import ENCODING, KEY_ID, EncryptionCodec, UnknownKeyError, data_converter
from core.history_codec import HistoryEncryptor
from core.settings import CodecSettings, Settings
from tests.support.codec import TEST_CODEC
from workflows.call import CallWorkflow
from workflows.reminder import ReminderWorkflow
from workflows.sandbox import WORKFLOW_RUNNER

HISTORIES = Path(__file__).parent.parent / "workflows" / "histories"  # no resolve(): sandboxed
NUMBER = "+33612000077"


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


async def test_payloads_are_sealed_under_the_current_key_and_opened_by_any() -> None:
    old = CodecSettings(keys=TEST_CODEC.keys, current_key="test-2025")
    written_before = (await EncryptionCodec.from_settings(old).encode([plain(NUMBER)]))[0]
    codec = EncryptionCodec.from_settings(TEST_CODEC)
    first, second = await codec.encode([plain(NUMBER), plain(NUMBER)])
    for sealed in (first, second, written_before):
        assert sealed.metadata["encoding"] == ENCODING
        assert NUMBER.encode() not in sealed.data
    assert (
        first.metadata[KEY_ID] == b"test-2026" and written_before.metadata[KEY_ID] == b"test-2025"
    )
    assert first.data != second.data  # a fresh nonce for every payload
    opened = await codec.decode([first, written_before, plain("as it was")])
    assert [json.loads(p.data) for p in opened] == [NUMBER, NUMBER, "as it was"]

    # Once the old key is dropped, what it wrote cannot be read (and says why).
    retired = CodecSettings(
        keys={"test-2026": TEST_CODEC.keys["test-2026"]}, current_key="test-2026"
    )
    with pytest.raises(UnknownKeyError, match="test-2025"):
        await EncryptionCodec.from_settings(retired).decode([written_before])


def test_keys_must_be_long_enough_and_the_current_one_present(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValidationError, match="shorter than 32 bytes"):
        CodecSettings(keys={"k": SecretStr("too-short")}, current_key="k")
    with pytest.raises(ValidationError, match="phone_hash_key is shorter"):
        CodecSettings(phone_hash_key=SecretStr("x" * 31))
    with pytest.raises(ValidationError, match="not in keys"):
        CodecSettings(keys=TEST_CODEC.keys, current_key="missing")
    # Production refuses the public dev keys; its own keys come from the environment as JSON.
    with pytest.raises(ValidationError, match="environment prod needs its own"):
        Settings(environment="prod")
    monkeypatch.setenv("CALLCENTER_ENVIRONMENT", "prod")
    monkeypatch.setenv("CALLCENTER_TEMPORAL__CODEC__KEYS", json.dumps({"2026-12": "k" * 40}))
    monkeypatch.setenv("CALLCENTER_TEMPORAL__CODEC__CURRENT_KEY", "2026-12")
    monkeypatch.setenv("CALLCENTER_TEMPORAL__CODEC__PHONE_HASH_KEY", "p" * 40)
    monkeypatch.setenv("CALLCENTER_TELEPHONY__CALL_SECRET_KEY", "c" * 40)
    settings = Settings()
    assert settings.temporal.codec.current_key == "2026-12"
    assert "k" * 40 not in repr(settings)


def test_the_offline_default_needs_no_configuration() -> None:
    codec = Settings().temporal.codec
    assert codec.uses_dev_keys()
    assert EncryptionCodec.from_settings(codec).key_ids == ["dev"]


def test_the_phone_search_attribute_is_a_keyed_hash() -> None:
    key = TEST_CODEC.phone_key(NUMBER)
    assert len(key) == 16 and NUMBER not in key and "612000077" not in key
    assert key == TEST_CODEC.phone_key(NUMBER)  # searchable: the same number, the same value
    assert key != TEST_CODEC.phone_key("+33612000078")
    other = CodecSettings(phone_hash_key=SecretStr("another-phone-hash-key-0123456789abc"))
    assert other.phone_key(NUMBER) != key  # without the key, the hash says nothing


@activity.defn(name="codec_probe_fails")
async def fails(number: str) -> None:
    raise RuntimeError(f"could not reach {number}")


@workflow.defn(name="CodecProbe")
class CodecProbe:
    @workflow.run
    async def run(self, number: str) -> None:
        await workflow.execute_activity(
            fails,
            number,
            start_to_close_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


async def test_failure_messages_and_traces_are_encrypted_in_history(
    temporal_env: WorkflowEnvironment,
) -> None:
    client = temporal_env.client
    queue = f"codec-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[CodecProbe],
        activities=[fails],
        workflow_runner=WORKFLOW_RUNNER,
    ):
        handle = await client.start_workflow(
            CodecProbe.run, NUMBER, id=f"codec-{uuid.uuid4()}", task_queue=queue
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    # The client decodes: the message is there for whoever holds the key...
    assert NUMBER in str(failure.value.cause.cause)  # type: ignore[union-attr]
    # ...and nowhere in what the server stores.
    history = await handle.fetch_history()
    stored = history.to_json()
    assert NUMBER not in stored and "could not reach" not in stored
    failed = next(
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
    )
    attributes = failed.activity_task_failed_event_attributes.failure
    assert attributes.message == "Encoded failure" and attributes.stack_trace == ""
    assert attributes.encoded_attributes.metadata["encoding"] == ENCODING


async def test_a_history_written_under_the_old_key_replays_after_rotation(tmp_path: Path) -> None:
    recorded = json.loads((HISTORIES / "car_accident_claim.json").read_text(encoding="utf-8"))
    # The same history as a worker still on the old key would have written it.
    old = CodecSettings(
        keys=TEST_CODEC.keys, current_key="test-2025", phone_hash_key=TEST_CODEC.phone_hash_key
    )
    under_old_key = HistoryEncryptor(old).encrypt(recorded)
    text = json.dumps(under_old_key)
    assert '"dGVzdC0yMDI1"' in text and '"dGVzdC0yMDI2"' not in text  # key ids, base64
    history = WorkflowHistory.from_json("car_accident_claim", text)

    def replayer(settings: CodecSettings) -> Replayer:
        return Replayer(
            workflows=[CallWorkflow, ReminderWorkflow],
            data_converter=data_converter(settings),
            workflow_runner=WORKFLOW_RUNNER,
        )

    # The new key is current and the old one kept for decryption: it replays.
    await replayer(TEST_CODEC).replay_workflow(history)
    # Dropping the old key too early is caught by the same test.
    only_new = CodecSettings(
        keys={"test-2026": TEST_CODEC.keys["test-2026"]}, current_key="test-2026"
    )
    result = await replayer(only_new).replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
