"""`TwilioSms` against a local fake of Twilio's Messages API, and the webhook signature."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from providers.sms.twilio import (
    SmsRejected,
    SmsUnavailable,
    TwilioSms,
    twilio_signature,
    verify_twilio_signature,
)

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "secret-token"
BOT = "+18005550100"
CUSTOMER = "+15550007001"


@dataclass
class FakeTwilio:
    """Answers `POST /2010-04-01/Accounts/{sid}/Messages.json` like Twilio; records requests."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 201
    answer: dict[str, Any] = field(default_factory=dict)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.requests.append(
            {
                "path": request.path,
                "sid": request.match_info["sid"],
                "authorization": request.headers.get("Authorization", ""),
                "content_type": request.content_type,
                "form": {k: str(v) for k, v in form.items()},
            }
        )
        body = self.answer or {
            "sid": "SM" + "0" * 32,
            "status": "queued",
            "to": form.get("To"),
            "from": form.get("From"),
            "body": form.get("Body"),
            "account_sid": request.match_info["sid"],
        }
        return web.json_response(body, status=self.status)


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    fake = FakeTwilio()
    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", fake.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield fake
    await runner.cleanup()


@pytest.fixture
async def sms(twilio: FakeTwilio) -> AsyncIterator[TwilioSms]:
    async with TwilioSms(SID, TOKEN, BOT, base_url=twilio.url) as sender:
        yield sender


async def test_send_posts_the_form_with_basic_auth(twilio: FakeTwilio, sms: TwilioSms) -> None:
    result = await sms.send(CUSTOMER, "Your claim is filed. ✅", call_id="call-42")
    assert result.message_id == "SM" + "0" * 32
    assert result.delivered
    [request] = twilio.requests
    assert request["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    expected_auth = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert request["authorization"] == f"Basic {expected_auth}"
    assert request["content_type"] == "application/x-www-form-urlencoded"
    assert request["form"] == {"To": CUSTOMER, "From": BOT, "Body": "Your claim is filed. ✅"}


async def test_twilio_error_is_rejected(twilio: FakeTwilio, sms: TwilioSms) -> None:
    twilio.status = 400
    twilio.answer = {
        "code": 21211,
        "message": "The 'To' number +1555 is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    }
    with pytest.raises(SmsRejected) as caught:
        await sms.send("+1555", "hello")
    assert caught.value.status == 400
    assert caught.value.code == "21211"
    assert "not a valid phone number" in str(caught.value)
    assert "docs/errors/21211" in str(caught.value)


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_throttling_and_server_errors_are_retryable(
    twilio: FakeTwilio, sms: TwilioSms, status: int
) -> None:
    twilio.status = status
    twilio.answer = {"code": 20429, "message": "Too Many Requests", "status": status}
    with pytest.raises(SmsUnavailable) as caught:
        await sms.send(CUSTOMER, "hello")
    assert caught.value.status == status


async def test_failed_message_is_rejected(twilio: FakeTwilio, sms: TwilioSms) -> None:
    twilio.answer = {"sid": "SM1", "status": "failed", "error_code": 30006}
    with pytest.raises(SmsRejected, match="SM1 .* is failed"):
        await sms.send(CUSTOMER, "hello")


async def test_unreachable_twilio_is_retryable() -> None:
    async with TwilioSms(SID, TOKEN, BOT, base_url="http://127.0.0.1:1") as sms:
        with pytest.raises(SmsUnavailable) as caught:
            await sms.send(CUSTOMER, "hello")
    assert caught.value.status is None


# Twilio's documented example (webhooks security page).
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
DOC_TOKEN = "12345"
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_signature_matches_twilios_documented_example() -> None:
    assert twilio_signature(DOC_URL, DOC_PARAMS, DOC_TOKEN) == DOC_SIGNATURE
    assert verify_twilio_signature(DOC_URL, DOC_PARAMS, DOC_SIGNATURE, DOC_TOKEN)
    # Parameter order does not matter: they are sorted.
    reordered = dict(reversed(list(DOC_PARAMS.items())))
    assert verify_twilio_signature(DOC_URL, reordered, DOC_SIGNATURE, DOC_TOKEN)


@pytest.mark.parametrize(
    ("url", "params", "signature", "token"),
    [
        (DOC_URL, DOC_PARAMS | {"Digits": "9999"}, DOC_SIGNATURE, DOC_TOKEN),
        (DOC_URL, DOC_PARAMS | {"Extra": "x"}, DOC_SIGNATURE, DOC_TOKEN),
        (DOC_URL, {k: v for k, v in DOC_PARAMS.items() if k != "To"}, DOC_SIGNATURE, DOC_TOKEN),
        ("https://mycompany.com/myapp.php?foo=1&bar=3", DOC_PARAMS, DOC_SIGNATURE, DOC_TOKEN),
        ("http://mycompany.com/myapp.php?foo=1&bar=2", DOC_PARAMS, DOC_SIGNATURE, DOC_TOKEN),
        (DOC_URL, DOC_PARAMS, DOC_SIGNATURE, "54321"),
        (DOC_URL, DOC_PARAMS, DOC_SIGNATURE[:-2], DOC_TOKEN),
        (DOC_URL, DOC_PARAMS, "", DOC_TOKEN),
    ],
    ids=["param", "extra", "missing", "query", "scheme", "token", "truncated", "empty"],
)
def test_tampered_requests_fail(
    url: str, params: dict[str, str], signature: str, token: str
) -> None:
    assert not verify_twilio_signature(url, params, signature, token)


def test_default_port_is_optional() -> None:
    # Twilio may sign with or without the scheme's default port; its validators accept both.
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert verify_twilio_signature(with_port, DOC_PARAMS, DOC_SIGNATURE, DOC_TOKEN)
    signed_with_port = twilio_signature(with_port, DOC_PARAMS, DOC_TOKEN)
    assert verify_twilio_signature(DOC_URL, DOC_PARAMS, signed_with_port, DOC_TOKEN)
    other_port = "https://mycompany.com:8443/myapp.php?foo=1&bar=2"
    assert not verify_twilio_signature(other_port, DOC_PARAMS, DOC_SIGNATURE, DOC_TOKEN)
