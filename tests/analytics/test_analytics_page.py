"""The analytics page and signed links over real HTTP (uvicorn), the page in headless Chromium.

Saves `test-artifacts/analytics.png`: the page opened through a signed link, in a browser
that holds no API key.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from activities.campaign_store import CampaignRecord, CampaignStore, NewContact
from api.deps import Services
from api.main import create_app
from api.routes import analytics
from api.signed_links import sign
from core.settings import ApiSettings, Settings
from domain.campaign import CallTemplate, CampaignStatus, RetryRules
from domain.outcome import CallOutcome
from tests.analytics.calls import DAY1, DAY2, call, sample
from tests.api.test_report import ARTIFACTS, assert_png, parse, serve
from tests.conftest import Stack
from tests.support import chromium

API_KEY = "analytics-test-key-" + "x" * 24
KEY = {"X-API-Key": API_KEY}
RANGE = {"start": DAY1.date().isoformat(), "end": DAY2.date().isoformat()}


def keyed(stack: Stack) -> Settings:
    return stack.settings.model_copy(update={"api": ApiSettings(keys=[SecretStr(API_KEY)])})


async def seed_campaign(settings: Settings, campaign_id: str, contacts: int) -> list[str]:
    """A stored campaign with `contacts` dialled once each; their call ids."""
    store = await CampaignStore(settings.campaigns.path(settings.store)).open()
    try:
        record = CampaignRecord(
            campaign_id=campaign_id,
            name="Spring renewals",
            created_at=DAY1,
            status=CampaignStatus.RUNNING,
            base_call={},
            template=CallTemplate(),
            concurrency=2,
            starts_per_second=None,
            calling_hours=None,
            retry=RetryRules(),
            total=contacts,
        )
        rows = [
            NewContact(
                phone_number=f"+3361234{n:04d}",
                phone_key=f"key{n}",
                tz="UTC",
                variables={},
                calling_hours=None,
            )
            for n in range(contacts)
        ]
        await store.create(record, rows)
        claimed = await store.claim(record, "claim-1", DAY1, contacts, None)
        return [contact.call_id for contact in claimed]
    finally:
        await store.close()


def kpis(html: str) -> dict[str, str]:
    dom = parse(html)
    return {
        str(node.attrs["data-kpi"]): node.one(class_="value").text()
        for node in dom.find_all(class_="kpi")
    }


async def test_analytics_page_figures_campaign_filter_and_signed_link(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = keyed(stack)
    for stored in sample():
        await stack.store.save(stored)
    first, second = await seed_campaign(settings, "spring", 2)
    await stack.store.save(call(first, DAY1, CallOutcome.COMPLETED, cost=0.5, complete=True))
    await stack.store.save(call(second, DAY2, CallOutcome.VOICEMAIL, cost=0.1))
    app = create_app(settings, Services(settings, stack.client, stack.store, stack.redis))
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as http:
        assert (await http.get("/analytics", params=RANGE)).status_code == 401
        everything = await http.get("/analytics", params=RANGE, headers=KEY)
        campaign = await http.get(
            "/analytics", params=RANGE | {"campaign_id": "spring"}, headers=KEY
        )
        unknown = await http.get("/analytics", params={"campaign_id": "nope"}, headers=KEY)
        reversed_range = await http.get(
            "/analytics", params={"start": RANGE["end"], "end": RANGE["start"]}, headers=KEY
        )
        empty = await http.get(
            "/analytics", params={"start": "2020-01-01", "end": "2020-01-07"}, headers=KEY
        )
        too_long = await http.get(
            "/analytics", params={"start": "2020-01-01", "end": "2020-06-01"}, headers=KEY
        )
        link = await http.post("/signed-links", json=RANGE, headers=KEY)
        assert link.status_code == 201, link.text
        url = f"{base}{link.json()['path']}"
        assert link.json()["url"] == f"{settings.telephony.public_url}{link.json()['path']}"
        shot = ARTIFACTS / "analytics.png"
        html = await chromium.render(url, screenshot=shot, width=1200, height=2000)
        monkeypatch.setattr(analytics, "CALL_CAP", 5)
        capped = await http.get("/analytics", params=RANGE, headers=KEY)

    assert everything.status_code == 200, everything.text
    assert "script" not in everything.headers["content-security-policy"]
    # 8 calls: the sample's 6 and the campaign's 2 (one answered, with a complete claim).
    assert kpis(everything.text) == {
        "calls": "8",
        "answer-rate": "71 %",  # 5 of 7 ended
        "handle-time": "75.0 s",
        "claim-rate": "60 %",  # 3 of 5 answered
        "transfers": "1",
        "reply-gap": "1.2 s / 5.0 s",
        "cost-EUR": "0.2000 EUR",  # 1.20 over 6 priced calls
    }
    assert campaign.status_code == 200
    figures = kpis(campaign.text)
    assert (figures["calls"], figures["answer-rate"], figures["claim-rate"]) == (
        "2",
        "50 %",
        "100 %",
    )
    assert unknown.status_code == 404 and "no campaign" in unknown.text
    assert reversed_range.status_code == 422 and "before the start" in reversed_range.text
    assert empty.status_code == 200 and kpis(empty.text)["calls"] == "0"
    assert kpis(empty.text)["answer-rate"] == "—"
    assert too_long.status_code == 422 and "at most 92 days" in too_long.text
    assert parse(everything.text).find_all(id="capped") == []
    assert "newest 5 only" in parse(capped.text).one(id="capped").text()
    assert kpis(capped.text)["calls"] == "5"
    page = parse(everything.text)
    bars = page.one("svg", id="calls-per-day").find_all("rect")
    assert sum(int(str(b.attrs["data-count"])) for b in bars) == 8
    share = page.one(id="share").one("code").text()
    assert share.startswith(f"{settings.telephony.public_url}/signed/analytics?")

    # The browser holds no key: the signed link opens the same figures.
    assert_png(shot)
    assert kpis(html) == kpis(everything.text)
    assert parse(html).find_all(id="share") == []


async def test_signed_report_link_opens_without_key_and_refuses_tampering(stack: Stack) -> None:
    settings = keyed(stack)
    stored = sample()[0]
    await stack.store.save(stored)
    app = create_app(settings, Services(settings, stack.client, stack.store, stack.redis))
    secret = settings.telephony.call_secret_key
    async with serve(app) as base, httpx.AsyncClient(base_url=base) as http:
        missing = await http.post("/signed-links", json={"call_id": "nope"}, headers=KEY)
        keyless = await http.post("/signed-links", json={"call_id": stored.call_id})
        made = await http.post(
            "/signed-links", json={"call_id": stored.call_id, "ttl_s": 600}, headers=KEY
        )
        assert made.status_code == 201, made.text
        parts = urlsplit(made.json()["path"])
        opened = await http.get(f"{parts.path}?{parts.query}")
        query = dict(parse_qsl(parts.query))
        other = await http.get(f"/signed/report/other-call?{parts.query}")
        unsigned = await http.get(parts.path)
        forged = await http.get(
            f"{parts.path}?{urlencode(query | {'exp': int(query['exp']) + 60})}"
        )
        old, _ = sign(
            secret,
            parts.path,
            {},
            ttl=timedelta(minutes=5),
            now=datetime.now(UTC) - timedelta(hours=1),
        )
        expired = await http.get(old)
        report_keyless = await http.get(f"/report/{stored.call_id}")

    assert missing.status_code == 404 and keyless.status_code == 401
    expires = datetime.fromisoformat(made.json()["expires_at"])
    assert timedelta(seconds=590) < expires - datetime.now(UTC) <= timedelta(seconds=600)
    assert opened.status_code == 200, opened.text
    assert parse(opened.text).one(id="call-header").attrs["data-call-id"] == stored.call_id
    assert report_keyless.status_code == 401  # the plain report still needs the key
    for refused, reason in (
        (other, "altered"),
        (unsigned, "not signed"),
        (forged, "altered"),
        (expired, "expired"),
    ):
        assert refused.status_code == 403, refused.text
        assert reason in parse(refused.text).one(id="refused").text()
        assert "no-store" in refused.headers["cache-control"]
