"""The phone stack on the time-skipping server, shared by the tests where hours pass (calling
hours, campaign and reminder retries); a module that needs another stack defines its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from providers.flags.redis_flags import RedisFlags
from scripted_llm.runner import ScriptedLlmServer
from tests.telephony.test_phone_calls import Phone, open_phone


@pytest.fixture
async def phone(
    time_skipping_env: WorkflowEnvironment,
    redis_url: str,
    scripted_llm: ScriptedLlmServer,
    tmp_path: Path,
) -> AsyncIterator[Phone]:
    async for stack in open_phone(time_skipping_env, redis_url, scripted_llm, tmp_path):
        await stack.phones.configure(ring_timeout_ms=300)
        # A call ends its workflow when it ends (no 3 h wait for a call back): the skipped
        # hours are the campaign's or the reminder's alone.
        flags = RedisFlags(stack.redis, key=stack.settings.flags.redis_key, ttl_sec=0)
        await flags.set("callback_timeout_hour", "0")
        yield stack
