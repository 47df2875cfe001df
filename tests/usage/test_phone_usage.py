"""A phone call's usage: connected time per started minute, STT, TTS and tokens, priced, on
the real phone stack (API, dev server, worker, media gateway, ACS emulator)."""

from __future__ import annotations

import asyncio
import math

import pytest

from domain.webhooks import workflow_id
from tests.telephony.test_phone_calls import ONE_LANGUAGE, Phone, say
from tests.telephony.test_phone_calls import phone as phone  # noqa: F401 - the fixture
from workflows.call import CallWorkflow
from workflows.webhooks import WebhookWorkflow


async def test_a_phone_call_is_billed_from_connect_to_the_bots_hang_up(phone: Phone) -> None:
    call_id = await phone.call(lang=ONE_LANGUAGE)
    connection_id = await phone.connection(call_id)
    phone.llm.state.add(
        say("I am sorry. Where did it happen?"), say("Goodbye!", "end_call"), user=call_id
    )
    await phone.api.post(f"/call/{call_id}/messages", json={"text": "My car was stolen."})
    await phone.api.post(f"/call/{call_id}/messages", json={"text": "That's all, bye."})
    handle = phone.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    final = await asyncio.wait_for(handle.result(), 30)

    usage = final.usage
    record = await phone.phones.wait_for_state(connection_id, "disconnected")
    assert record.direction == "outbound"
    assert usage.connected_since is None  # the line was closed
    assert 0 < usage.connected_seconds < 60
    assert usage.outbound_minutes == math.ceil(usage.connected_seconds / 60) == 1
    assert usage.inbound_minutes == 0
    assert usage.stt_audio_seconds == pytest.approx(usage.connected_seconds)
    spoken = [m.content for m in final.messages if m.persona == "assistant" and m.action == "talk"]
    assert len(spoken) >= 2  # the greeting and the answer
    assert usage.tts_characters == sum(len(text) for text in spoken)
    assert [t.model for t in usage.llm] == ["fast-model", "slow-model"]  # turns, post-call
    assert usage.cost is not None
    items = {line.item for line in usage.cost.lines}
    assert {"telephony_outbound", "media_stream", "stt", "tts", "temporal"} <= items
    assert "llm_input:fast-model" in items
    prices = phone.settings.prices
    lines = {line.item: line.cost for line in usage.cost.lines}
    assert lines["telephony_outbound"] == pytest.approx(prices.telephony_outbound_per_min)
    assert lines["media_stream"] == pytest.approx(prices.media_stream_per_min)
    # Its webhook events were enqueued (no endpoint is configured here: nothing to send).
    for event in ("call.started", "call.connected", "call.ended"):
        delivery = phone.client.get_workflow_handle_for(
            WebhookWorkflow.run, workflow_id(f"{call_id}.{event}")
        )
        report = await asyncio.wait_for(delivery.result(), 10)
        assert report.type == event and report.targets == []
