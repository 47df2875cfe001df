"""The Twilio SMS webhook: signature checked, the message answered by SMS through the LLM."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx

from api.deps import Services
from api.main import create_app
from core.settings import Settings
from providers.sms.outbox import OutboxSms
from providers.sms.twilio import twilio_signature
from scripted_llm.script import Match, ScriptedReply
from tests.conftest import Stack

TOKEN = "twilio-auth-token"
CUSTOMER = "+33612349999"


async def test_signed_sms_is_answered_and_forged_ones_rejected(stack: Stack) -> None:
    data = stack.settings.model_dump()
    data["sms"] = {
        **data["sms"],
        "twilio": {"account_sid": "AC123", "auth_token": TOKEN, "phone_number": "+15005550006"},
    }
    data["telephony"] = {**data["telephony"], "public_url": "https://callcenter.example.com"}
    settings = Settings.model_validate(data)
    app = create_app(settings, Services(settings, stack.client, stack.store, stack.redis))
    form = {
        "MessageSid": "SM0123456789",
        "From": CUSTOMER,
        "To": "+15005550006",
        "Body": "Hello, is my windscreen covered?",
    }
    url = "https://callcenter.example.com/twilio/sms"
    stack.llm.state.add(
        ScriptedReply(
            text="Yes, a chipped windscreen is repaired for free.",
            match=Match(last_user_contains="windscreen covered"),
        )
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as c:
        forged = await c.post(
            "/twilio/sms", data=form, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
        )
        assert forged.status_code == 403
        assert await stack.store.latest_for_phone(CUSTOMER, since=_ever()) is None

        signature = twilio_signature(url, form, TOKEN)
        ok = await c.post("/twilio/sms", data=form, headers={"X-Twilio-Signature": signature})
    assert ok.status_code == 200
    assert ok.text.endswith("<Response></Response>")
    sent: list[dict[str, str]] = []
    for _ in range(100):
        sent = [m for m in OutboxSms(stack.settings.sms.outbox_path).read() if m["to"] == CUSTOMER]
        if sent:
            break
        await asyncio.sleep(0.05)
    assert sent[0]["body"] == "Yes, a chipped windscreen is repaired for free."
    call = await stack.store.latest_for_phone(CUSTOMER, since=_ever())
    assert call is not None
    assert [(m.persona, m.action) for m in call.messages[-2:]] == [
        ("human", "sms"),
        ("assistant", "sms"),
    ]


def _ever() -> datetime:
    return datetime(2000, 1, 1, tzinfo=UTC)
