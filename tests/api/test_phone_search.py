"""A number's calls are found in Temporal by its keyed hash; the number itself is not there."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from urllib.parse import quote

from cli.calls import FoundCall, find_calls, phone_query
from tests.conftest import Stack

REPO = Path(__file__).resolve().parents[2]
NUMBER = "+33612000123"


async def eventually_found(stack: Stack, number: str, workflow_id: str) -> list[FoundCall]:
    found: list[FoundCall] = []
    for _ in range(50):  # visibility is eventually consistent
        found = await find_calls(stack.client, stack.settings.temporal, number)
        if any(call.workflow_id == workflow_id for call in found):
            break
        await asyncio.sleep(0.2)
    return found


async def test_calls_are_found_by_the_hash_and_never_by_the_number(stack: Stack) -> None:
    call_id = await stack.start_call(phone_number=NUMBER)
    workflow_id = f"call-{call_id}"
    # Any spelling of the number hashes to the same value: it is normalised to E.164 first.
    found = await eventually_found(stack, "+33 6 12 00 01 23", workflow_id)
    assert [call.workflow_id for call in found] == [workflow_id]
    assert found[0].status == "RUNNING"
    assert await find_calls(stack.client, stack.settings.temporal, "+33612000124") == []
    # The plaintext number is in no search attribute, so a query for it finds nothing.
    plaintext = [w.id async for w in stack.client.list_workflows(f"CallPhoneNumber = '{NUMBER}'")]
    assert plaintext == []
    description = await stack.client.get_workflow_handle(workflow_id).describe()
    assert NUMBER not in str(description.raw_description.workflow_execution_info.search_attributes)


async def test_the_cli_lists_a_numbers_calls(stack: Stack) -> None:
    call_id = await stack.start_call(phone_number=NUMBER)
    await eventually_found(stack, NUMBER, f"call-{call_id}")
    temporal = stack.settings.temporal
    codec = temporal.codec
    env = {
        **os.environ,
        "CALLCENTER_TEMPORAL__ADDRESS": temporal.address,
        "CALLCENTER_TEMPORAL__UI_URL": "http://127.0.0.1:8233",
        "CALLCENTER_TEMPORAL__CODEC__KEYS": json.dumps(
            {key_id: secret.get_secret_value() for key_id, secret in codec.keys.items()}
        ),
        "CALLCENTER_TEMPORAL__CODEC__CURRENT_KEY": codec.current_key,
        "CALLCENTER_TEMPORAL__CODEC__PHONE_HASH_KEY": codec.phone_hash_key.get_secret_value(),
        "PYTHONPATH": str(REPO),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", "calls", NUMBER,
        env=env, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    text = output.decode()
    assert process.returncode == 0, text
    assert f"call-{call_id}" in text
    assert NUMBER not in text and "+3361…0123" in text  # the terminal shows it masked
    query = quote(phone_query(temporal, NUMBER))
    assert f"http://127.0.0.1:8233/namespaces/default/workflows?query={query}" in text
