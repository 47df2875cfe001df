"""Call report pages, loaded over real HTTP by headless Chromium (DOM and screenshots)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from api.deps import Services
from api.main import create_app
from api.routes import report
from api.routes.report import render_markdown
from core.settings import Settings
from domain.call import (
    Action,
    CallInitiate,
    CallState,
    CallStatus,
    Message,
    Next,
    NextAction,
    Persona,
    Reminder,
    Satisfaction,
    Synthesis,
    ToolCall,
)
from tests.conftest import Stack
from tests.support import chromium

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# --- A tiny DOM over Chromium's --dump-dom output (the stdlib has no HTML tree) -------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.children: list[Node | str] = []

    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text() for c in self.children]
        return " ".join(" ".join(parts).split())

    def find_all(self, tag: str | None = None, **attrs: str | bool) -> list[Node]:
        """Descendants by tag and attributes (`data_field=` matches `data-field`; True: present)."""
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        found: list[Node] = []
        for child in self.children:
            if isinstance(child, str):
                continue
            if (tag is None or child.tag == tag) and all(
                (name in child.attrs) if value is True else child.attrs.get(name) == value
                for name, value in wanted.items()
            ):
                found.append(child)
            found.extend(child.find_all(tag, **attrs))
        return found

    def one(self, tag: str | None = None, **attrs: str | bool) -> Node:
        found = self.find_all(tag, **attrs)
        assert len(found) == 1, f"expected one {tag or '*'} {attrs}, found {len(found)}"
        return found[0]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder.root


# --- Serving the app over real HTTP ---------------------------------------------------------


def report_app(stack: Stack, settings: Settings | None = None) -> FastAPI:
    """The API app with the report pages (included here until `api.main` includes them)."""
    conf = settings or stack.settings
    app = create_app(conf, Services(conf, stack.client, stack.store, stack.redis))
    if not any(getattr(route, "path", None) == "/report" for route in app.routes):
        app.include_router(report.router)
    return app


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Runs `app` with uvicorn on a free loopback port in this loop; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC), f"{path} is not a PNG"
    assert len(data) > 5_000, f"{path} is only {len(data)} bytes"


# --- Calls ----------------------------------------------------------------------------------

T0 = datetime(2024, 11, 14, 9, 29, 50, tzinfo=UTC)  # 10:29:50 in Paris (CET, UTC+1)


def _initiate(phone_number: str = "+33612345678") -> CallInitiate:
    return CallInitiate(
        phone_number=phone_number,
        bot_company="Contoso Assurances",
        bot_name="Amélie",
        agent_phone_number="+33612345699",
        bot_phone_number="+33142685300",
    )


def finished_call(call_id: str) -> CallState:
    """An ended call with every part of the report filled in."""

    def at(seconds: int) -> datetime:
        return T0 + timedelta(seconds=seconds)

    def reminder(title: str, status: str, **extra: object) -> Reminder:
        return Reminder.model_validate(
            {
                "created_at": at(60),
                "title": title,
                "description": f"{title} for the claim",
                "due_date_time": datetime(2024, 11, 15, 8, 0, tzinfo=UTC),
                "owner": "Amélie",
                "status": status,
                **extra,
            }
        )

    return CallState(
        call_id=call_id,
        created_at=T0,
        initiate=_initiate(),
        direction="outbound",
        status=CallStatus.ENDED,
        claim={
            "policyholder_name": "Jeanne Dupont",
            "policyholder_email": "jeanne@example.com",
            "incident_location": "Lyon, rue de la République",
            "incident_datetime": "2024-11-13T21:15:00+01:00",
            "policy_number": "B-01-2024",
            "witnesses": None,
        },
        messages=[
            Message(created_at=at(0), persona=Persona.HUMAN, action=Action.CALL),
            Message(
                created_at=at(10),
                persona=Persona.ASSISTANT,
                content="Bonjour, je suis Amélie de Contoso Assurances. Que puis-je faire ?",
            ),
            Message(
                created_at=at(30),
                persona=Persona.HUMAN,
                content="On m'a volé ma voiture hier soir à Lyon.",
            ),
            Message(
                created_at=at(50),
                persona=Persona.ASSISTANT,
                content="Je suis désolée. J'enregistre le lieu de l'incident.",
                tool_calls=[ToolCall(tool_id="t1", function_name="updated_claim")],
            ),
            Message(
                created_at=at(70),
                persona=Persona.HUMAN,
                content="<script>alert(1)</script> & <b>merci</b>",
            ),
            Message(
                created_at=at(90),
                persona=Persona.ASSISTANT,
                action=Action.SMS,
                content="Votre dossier B-01-2024 est ouvert.",
            ),
            Message(created_at=at(110), persona=Persona.HUMAN, action=Action.HANGUP),
        ],
        reminders=[
            reminder("Call back the customer", "scheduled"),
            reminder("Send the claim form", "sent", attempts=1),
            reminder("Book the expert", "retrying", attempts=2, last_error="SMS gateway timeout"),
            reminder("Check the police report", "failed", attempts=5, last_error="number barred"),
            reminder("Offer a rental car", "cancelled"),
        ],
        next=Next(
            action=NextAction.REQUIRES_EXPERTISE,
            justification="An expert must assess the stolen car's value before any payment.",
        ),
        synthesis=Synthesis(
            long=(
                "## What happened\n"
                "The customer's **car was stolen** in Lyon, *last night*.\n\n"
                "- Police report filed\n"
                "- Expert visit to schedule\n\n"
                '<img src="x" onerror="alert(2)"> stays text.'
            ),
            short="the theft of your car",
            satisfaction=Satisfaction.HIGH,
            improvement_suggestions="Ask for the **police report number** earlier.",
        ),
    )


def listed_call(call_id: str, phone_number: str, created_at: datetime, short: str) -> CallState:
    return CallState(
        call_id=call_id,
        created_at=created_at,
        initiate=_initiate(phone_number),
        status=CallStatus.ENDED,
        synthesis=Synthesis(
            long=short, short=short, satisfaction=Satisfaction.PARTIAL, improvement_suggestions=""
        ),
    )


# --- Tests ----------------------------------------------------------------------------------


def test_markdown_subset_renders_and_escapes_everything_else() -> None:
    html = str(
        render_markdown(
            "# Title\nSome **bold** and *italic* and `x<y`\nnext line.\n\n"
            "1. one\n2. two\n\n* a\n* b\n\n<script>alert(1)</script> policy_number_x"
        )
    )
    assert "<h3>Title</h3>" in html
    assert (
        "<p>Some <strong>bold</strong> and <em>italic</em> and <code>x&lt;y</code> next line.</p>"
    )
    assert "<ol><li>one</li><li>two</li></ol>" in html
    assert "<ul><li>a</li><li>b</li></ul>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; policy_number_x" in html
    assert "<script" not in html
    assert (
        str(render_markdown('**"q" & <i>**'))
        == "<p><strong>&#34;q&#34; &amp; &lt;i&gt;</strong></p>"
    )
    assert str(render_markdown(None)) == ""


async def test_detail_page_in_chromium(stack: Stack) -> None:
    call_id = "7d4b2a10-0000-4000-8000-000000000001"
    await stack.store.save(finished_call(call_id))
    shot = ARTIFACTS / "report-detail.png"
    async with serve(report_app(stack)) as base:
        dom = parse(await chromium.render(f"{base}/report/{call_id}", screenshot=shot, height=2400))

    header = dom.one(id="call-header")
    assert header.attrs["data-call-id"] == call_id
    assert header.attrs["data-timezone"] == "Europe/Paris"
    assert dom.one(id="company").text() == "Contoso Assurances · Amélie"
    assert "Hello Jeanne Dupont" in dom.one("h1").text()
    assert dom.one(id="phone-number").text() == "+33612345678"
    assert dom.one(id="direction").text() == "Outbound"
    assert dom.one(id="status").text() == "Ended"
    assert dom.one(id="started-at").text() == "14 Nov 2024, 10:29 CET"  # 09:29 UTC
    assert "Que puis-je faire ?" in dom.one(id="greeting").text()

    # Synthesis: short text, and the long Markdown rendered (bold, list) but no raw HTML.
    assert dom.one(id="synthesis-short").text() == "the theft of your car"
    long = dom.one(id="synthesis-long")
    assert long.one("h4").text() == "What happened"  # shifted under the page headings
    assert long.one("strong").text() == "car was stolen"
    assert long.one("em").text() == "last night"
    assert [li.text() for li in long.one("ul").find_all("li")] == [
        "Police report filed",
        "Expert visit to schedule",
    ]
    assert '<img src="x" onerror="alert(2)"> stays text.' in long.text()
    assert dom.find_all("img") == []

    assert dom.one(id="satisfaction").attrs["data-satisfaction"] == "high"
    assert dom.one(id="improvement-suggestions").one("strong").text() == "police report number"
    assert dom.one(id="next-action").attrs["data-next-action"] == "requires_expertise"
    assert dom.one(id="next-action-label").text() == "Requires expertise"
    assert "expert must assess" in dom.one(id="next-justification").text()

    # Every schema field is listed; empty ones are shown as missing.
    claim = dom.one(id="claim")
    fields = {row.attrs["data-field"]: row for row in claim.find_all("tr", data_field=True)}
    assert set(fields) >= {"incident_location", "policy_number", "witnesses", "injuries"}
    assert fields["incident_location"].one("td").text() == "Lyon, rue de la République"
    assert fields["policy_number"].one("td").text() == "B-01-2024"
    assert fields["policyholder_email"].one("td").text() == "jeanne@example.com"
    assert fields["incident_datetime"].one("td").text() == "13 Nov 2024, 21:15 CET"
    for missing in ("witnesses", "injuries", "policyholder_phone"):
        assert fields[missing].attrs["data-missing"] == "true"
        assert fields[missing].one("td").text() == "Missing"

    reminders = {
        r.attrs["data-reminder-title"]: r for r in dom.find_all("li", data_reminder_status=True)
    }
    assert {t: r.attrs["data-reminder-status"] for t, r in reminders.items()} == {
        "Call back the customer": "scheduled",
        "Send the claim form": "sent",
        "Book the expert": "retrying",
        "Check the police report": "failed",
        "Offer a rental car": "cancelled",
    }
    assert reminders["Book the expert"].one(class_="badge warn status").text() == (
        "retrying (attempt 2)"
    )
    assert "failed: number barred" in reminders["Check the police report"].text()
    assert reminders["Call back the customer"].one("time").text() == "15 Nov 2024, 09:00 CET"

    # Transcript in Paris time; call/hangup markers are events; user text stays text.
    entries = dom.one(id="transcript").find_all("li", data_action=True)
    assert [e.attrs["data-action"] for e in entries] == [
        "call",
        "talk",
        "talk",
        "talk",
        "talk",
        "sms",
        "hangup",
    ]
    assert "Call connected · 10:29" in entries[0].text()
    assert entries[1].one("time").text() == "10:30"  # 09:30 UTC
    assert entries[1].attrs["data-persona"] == "assistant"
    assert "Jeanne Dupont" in entries[2].text()
    assert "Tools: updated_claim" in entries[3].text()
    assert entries[4].one("p").text() == "<script>alert(1)</script> & <b>merci</b>"
    assert "SMS" in entries[5].text()
    assert "Call ended · 10:31" in entries[6].text()
    assert dom.find_all("script") == []
    assert dom.find_all("b") == []

    temporal = dom.one(id="temporal-link").attrs["href"]
    assert temporal == stack.settings.temporal.workflow_url(f"call-{call_id}")
    assert dom.one(id="call-me").attrs["href"] == "tel:+33142685300"
    assert dom.one(id="back").attrs["href"] == "/report?phone_number=%2B33612345678"
    assert_png(shot)


async def test_list_page_searches_and_pages_in_chromium(stack: Stack) -> None:
    number = "+33699887766"
    for day, short in ((10, "a broken window"), (11, "a water leak"), (12, "a stolen bike")):
        created = datetime(2024, 11, day, 17, 45, tzinfo=UTC)
        await stack.store.save(listed_call(f"call-{day}", number, created, short))
    await stack.store.save(listed_call("other", "+33612345678", T0, "someone else's call"))

    shot = ARTIFACTS / "report-list.png"
    async with serve(report_app(stack)) as base:
        empty = parse(await chromium.render(f"{base}/report"))
        assert empty.one("form").attrs["action"] == "/report"
        assert empty.one("input", name="phone_number").attrs.get("value", "") == ""
        assert empty.find_all(id="results") == []

        # A national-looking number with spaces is normalised to E.164.
        first = parse(
            await chromium.render(
                f"{base}/report?phone_number=%2B33+6+99+88+77+66&limit=2", screenshot=shot
            )
        )
        assert first.one(id="results").attrs["data-phone-number"] == number
        assert first.one("input", name="phone_number").attrs["value"] == "+33 6 99 88 77 66"
        rows = first.find_all("tr", data_call_id=True)
        assert [r.attrs["data-call-id"] for r in rows] == ["call-12", "call-11"]
        assert rows[0].one(class_="phone").text() == number
        assert rows[0].one("time").text() == "12 Nov 2024, 18:45 CET"  # 17:45 UTC
        assert rows[0].one(class_="summary").text() == "a stolen bike"
        assert rows[0].one("a").attrs["href"] == "/report/call-12"
        next_url = first.one(id="next-page").attrs["href"]
        assert next_url is not None and "cursor=" in next_url and "limit=2" in next_url

        second = parse(await chromium.render(f"{base}{next_url}"))
        rows = second.find_all("tr", data_call_id=True)
        assert [r.attrs["data-call-id"] for r in rows] == ["call-10"]
        assert second.find_all(id="next-page") == []
        assert (
            second.one(id="first-page").attrs["href"]
            == "/report?phone_number=%2B33699887766&limit=2"
        )
    assert_png(shot)


async def test_list_page_rejects_bad_numbers_and_cursors(stack: Stack) -> None:
    transport = httpx.ASGITransport(app=report_app(stack))
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
        bad = await client.get("/report", params={"phone_number": "0612<b>"})
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("text/html")
        assert "0612&lt;b&gt;" in bad.text and "<b>" not in bad.text
        cursor = await client.get(
            "/report", params={"phone_number": "+33612345678", "cursor": "nope"}
        )
        assert cursor.status_code == 422
        assert "no longer valid" in cursor.text


async def test_unknown_call_is_an_html_404(stack: Stack) -> None:
    transport = httpx.ASGITransport(app=report_app(stack))
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
        response = await client.get("/report/3f1c0c3e-0000-4000-8000-00000000dead")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert 'id="not-found"' in response.text
    assert "3f1c0c3e-0000-4000-8000-00000000dead" in response.text
    assert "script-src" not in response.headers["content-security-policy"]


async def test_running_call_is_reported_live(stack: Stack) -> None:
    call_id = await stack.start_call()
    transport = httpx.ASGITransport(app=report_app(stack))
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
        response = await client.get(f"/report/{call_id}")
    assert response.status_code == 200, response.text
    dom = parse(response.text)
    assert dom.one(id="call-header").attrs["data-call-id"] == call_id
    assert dom.one(id="live").text() == "Live"
    assert dom.one(id="synthesis-short").text().startswith("No summary yet")


async def test_report_needs_the_api_key_when_keys_are_configured(stack: Stack) -> None:
    settings = type(stack.settings).model_validate(
        {**stack.settings.model_dump(), "api": {"keys": ["s3cret-api-key-0123456789abcdef"]}}
    )
    await stack.store.save(finished_call("7d4b2a10-0000-4000-8000-000000000002"))
    transport = httpx.ASGITransport(app=report_app(stack, settings))
    urls = [
        "/report",
        "/report?phone_number=%2B33612345678",
        "/report/7d4b2a10-0000-4000-8000-000000000002",
    ]
    async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
        for url in urls:
            assert (await client.get(url)).status_code == 401, url
            allowed = await client.get(
                url, headers={"X-API-Key": "s3cret-api-key-0123456789abcdef"}
            )
            assert allowed.status_code == 200, url
