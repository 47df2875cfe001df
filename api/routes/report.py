"""Call report pages: server-rendered HTML of a number's calls and of one call.

Times show in the caller's timezone (from the number's country). Everything user-provided is
escaped by Jinja2's autoescape; Markdown from the LLM goes through a small safe renderer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from api.deps import ServicesDep, require_api_key
from api.routes.calls import public
from domain import attributes
from domain.call import Action, CallState, CallStatus, Message, Persona, Reminder
from domain.claim import ClaimFieldType, parse_datetime
from domain.phone import InvalidPhoneNumber, timezone_for, to_e164
from workflows.call import CallWorkflow

router = APIRouter(prefix="/report", tags=["report"], dependencies=[Depends(require_api_key)])

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"
DEFAULT_PAGE_SIZE = 20

# The pages run no script and load nothing from elsewhere; the CSP makes injected markup inert
# even if escaping were ever missed. Call ids in URLs are personal data: no referrer, no cache.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}

# --- Markdown: a safe subset (headings, paragraphs, lists, bold, italic, code) -------------

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_BULLET = re.compile(r"^\s*[-*+]\s+(.*)$")
_ORDERED = re.compile(r"^\s*\d{1,9}[.)]\s+(.*)$")
_RULE = re.compile(r"^\s*([-*_])(?:\s*\1){2,}\s*$")
_CODE = re.compile(r"`([^`\n]+)`")
_STRONG = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
# `_` only at word edges, so snake_case names stay as they are.
_EM = re.compile(
    r"(?<![*\w])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?!\*)|(?<!\w)_(?=\S)(.+?)(?<=\S)_(?!\w)"
)


def _emphasis(text: str) -> str:
    """Escapes `text`, then adds strong/em tags: the tags are the only markup in the result."""
    html = str(escape(text))
    html = _STRONG.sub(lambda m: f"<strong>{m[1] or m[2]}</strong>", html)
    return _EM.sub(lambda m: f"<em>{m[1] or m[2]}</em>", html)


def _inline(text: str) -> str:
    parts: list[str] = []
    last = 0
    for match in _CODE.finditer(text):
        parts.append(_emphasis(text[last : match.start()]))
        parts.append(f"<code>{escape(match[1])}</code>")
        last = match.end()
    parts.append(_emphasis(text[last:]))
    return "".join(parts)


class _Blocks:
    """Collects the blocks of a Markdown text line by line."""

    def __init__(self, heading_offset: int) -> None:
        self.html: list[str] = []
        self.paragraph: list[str] = []
        self.items: list[str] = []
        self.list_tag = ""
        self.heading_offset = heading_offset

    def flush(self) -> None:
        if self.paragraph:
            self.html.append(f"<p>{_inline(' '.join(self.paragraph))}</p>")
            self.paragraph = []
        if self.items:
            body = "".join(f"<li>{_inline(item)}</li>" for item in self.items)
            self.html.append(f"<{self.list_tag}>{body}</{self.list_tag}>")
            self.items = []

    def line(self, line: str) -> None:
        stripped = line.strip()
        if not stripped:
            self.flush()
        elif heading := _HEADING.match(stripped):
            self.flush()
            level = min(len(heading[1]) + self.heading_offset, 6)
            self.html.append(f"<h{level}>{_inline(heading[2])}</h{level}>")
        elif _RULE.match(stripped):
            self.flush()
            self.html.append("<hr>")
        elif item := (_BULLET.match(line) or _ORDERED.match(line)):
            tag = "ul" if _BULLET.match(line) else "ol"
            if self.paragraph or tag != self.list_tag:
                self.flush()
            self.list_tag = tag
            self.items.append(item[1].strip())
        elif self.items and line[:1] in (" ", "\t"):
            self.items[-1] += " " + stripped  # an indented line continues the list item
        else:
            if self.items:
                self.flush()
            self.paragraph.append(stripped)


def render_markdown(text: str | None, *, heading_offset: int = 2) -> Markup:
    """HTML for a safe Markdown subset; any other markup in `text` is escaped.

    Headings are shifted down by `heading_offset` so they nest under the page's own headings.
    """
    blocks = _Blocks(heading_offset)
    for line in (text or "").replace("\r\n", "\n").split("\n"):
        blocks.line(line)
    blocks.flush()
    return Markup("\n".join(blocks.html))  # built from escaped text and our own tags only


# --- Presentation helpers ---------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def local(moment: datetime, zone: ZoneInfo) -> datetime:
    """`moment` in `zone`; a naive value is taken as UTC (how the store writes them)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone)


def humanize(name: str) -> str:
    """`incident_location` → `Incident location`."""
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def reminder_label(reminder: Reminder) -> str:
    match reminder.status:
        case "retrying":
            return f"retrying (attempt {reminder.attempts})"
        case "failed":
            return f"failed: {reminder.last_error}" if reminder.last_error else "failed"
        case _:
            return reminder.status


_STATUS_LABELS = {
    CallStatus.STARTING: "Starting",
    CallStatus.IN_PROGRESS: "In progress",
    CallStatus.TRANSFERRING: "Transferring",
    CallStatus.ENDED: "Ended",
}

# Badge class and label of each satisfaction level.
_SATISFACTION = {
    "terrible": ("bad", "Terrible"),
    "low": ("bad", "Low"),
    "partial": ("warn", "Partial"),
    "high": ("ok", "High"),
    "unknow": ("", "Unknown"),
}


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(("html",), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["markdown"] = render_markdown
    env.filters["humanize"] = humanize
    return env


_templates = _environment()


def _page(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


@dataclass(frozen=True)
class TimelineEntry:
    """One message as the transcript shows it."""

    message: Message
    speaker: str
    kind: str  # "talk", "sms" or "event"
    label: str
    at: datetime


def _timeline(call: CallState, zone: ZoneInfo, customer: str) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    bot = call.initiate.bot_name
    for message in sorted(call.messages, key=lambda m: local(m.created_at, zone)):
        speaker = {Persona.ASSISTANT: bot, Persona.HUMAN: customer}.get(message.persona, "Tool")
        at = local(message.created_at, zone)
        match message.action:
            case Action.CALL:
                entries.append(TimelineEntry(message, speaker, "event", "Call connected", at))
            case Action.HANGUP:
                entries.append(TimelineEntry(message, speaker, "event", "Call ended", at))
            case Action.SMS:
                entries.append(TimelineEntry(message, speaker, "sms", speaker, at))
            case _:
                # Empty talk turns are tool-only steps: nothing was said.
                if message.content.strip():
                    entries.append(TimelineEntry(message, speaker, "talk", speaker, at))
    return entries


def _claim_rows(
    call: CallState, zone: ZoneInfo, claim: dict[str, str | None] | None = None
) -> list[dict[str, Any]]:
    """One row per field of the call's schema: of its current claim, or of `claim`."""
    values = call.claim if claim is None else claim
    rows: list[dict[str, Any]] = []
    for field in call.claim_schema():
        raw = values.get(field.name)
        value = raw
        if raw and field.type is ClaimFieldType.DATETIME:
            try:
                value = local(parse_datetime(raw, zone.key), zone).strftime("%d %b %Y, %H:%M %Z")
            except ValueError:
                value = raw  # shown as stored rather than hidden
        rows.append({"field": field, "value": value, "raw": raw})
    return rows


def _closed_claims(call: CallState, zone: ZoneInfo) -> list[dict[str, Any]]:
    """The claims `new_claim` set aside during the call, oldest first, each with its own
    values (only the given ones) and reminders."""
    closed = []
    for number, item in enumerate(sorted(call.closed_claims, key=lambda c: c.closed_at), 1):
        rows = [row for row in _claim_rows(call, zone, item.claim) if row["raw"]]
        closed.append(
            {
                "number": number,
                "closed_at": local(item.closed_at, zone),
                "rows": rows,
                "missing": len(call.claim_schema()) - len(rows),
                "reminders": [
                    {"reminder": r, "label": reminder_label(r), "due": local(r.due_date_time, zone)}
                    for r in sorted(item.reminders, key=lambda r: local(r.due_date_time, zone))
                ],
            }
        )
    return closed


def _call_me_number(call: CallState, services: ServicesDep) -> str:
    """The number the customer can call back: the bot's line, else the human agent's."""
    acs = services.settings.telephony.acs
    return (
        call.initiate.bot_phone_number
        or (acs.phone_number if acs is not None else None)
        or call.initiate.agent_phone_number
    )


async def _load(call_id: str, services: ServicesDep) -> tuple[CallState | None, bool]:
    """Live state from the running workflow, else the stored copy; and whether it is live."""
    handle = services.temporal.get_workflow_handle_for(
        CallWorkflow.run, attributes.workflow_id_for(call_id)
    )
    try:
        description = await handle.describe()
        if description.status == WorkflowExecutionStatus.RUNNING:
            return await handle.query(CallWorkflow.get_state), True
    except RPCError:
        pass  # not found, or Temporal is down: the stored copy still makes a report
    return await services.store.get(call_id), False


def _list_url(phone_number: str, limit: int, cursor: str | None = None) -> str:
    params: dict[str, str | int] = {"phone_number": phone_number}
    if limit != DEFAULT_PAGE_SIZE:
        params["limit"] = limit
    if cursor:
        params["cursor"] = cursor
    return f"/report?{urlencode(params)}"


# --- Routes -----------------------------------------------------------------------------------


_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}


@router.get(
    "",
    response_class=HTMLResponse,
    responses={422: {"description": "Not a phone number, or a stale page link", **_HTML}},
)
async def list_page(
    services: ServicesDep,
    phone_number: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=2_000)] = None,
) -> HTMLResponse:
    """The calls of a phone number, newest first; without a number, the search form."""
    query = (phone_number or "").strip()
    context: dict[str, Any] = {"query": query, "rows": [], "error": None, "number": None}
    context |= {"next_url": None, "first_url": None}
    if not query:
        return _page("report_list.html", **context)
    try:
        number = to_e164(query)
    except InvalidPhoneNumber as exc:
        return _page("report_list.html", 422, **(context | {"error": str(exc)}))
    try:
        page = await services.store.list_for_phone(number, limit=limit, cursor=cursor)
    except ValueError:
        error = "This page link is no longer valid; start from the first page."
        context |= {"error": error, "number": number, "first_url": _list_url(number, limit)}
        return _page("report_list.html", 422, **context)
    rows = []
    for call in page.calls:
        zone = _zone(timezone_for(call.initiate.phone_number))
        rows.append(
            {
                "call": call,
                "at": local(call.created_at, zone),
                "summary": call.synthesis.short if call.synthesis else None,
                "status": _STATUS_LABELS.get(call.status, str(call.status)),
            }
        )
    context |= {
        "number": number,
        "rows": rows,
        "next_url": _list_url(number, limit, page.next_cursor) if page.next_cursor else None,
        "first_url": _list_url(number, limit) if cursor else None,
    }
    return _page("report_list.html", **context)


@router.get(
    "/{call_id}",
    response_class=HTMLResponse,
    responses={404: {"description": "No such call", **_HTML}},
)
async def detail_page(call_id: str, services: ServicesDep) -> HTMLResponse:
    """Everything about one call: summary, claim, reminders, next action and transcript."""
    found, live = await _load(call_id, services)
    if found is None:
        return _page("report_404.html", 404, call_id=call_id)
    call = public(found)
    tz_name = timezone_for(call.initiate.phone_number)
    zone = _zone(tz_name)
    customer = call.claim.get("policyholder_name") or "Customer"
    greeting = next(
        (
            m
            for m in call.messages
            if m.persona is Persona.ASSISTANT and m.action is Action.TALK and m.content.strip()
        ),
        None,
    )
    workflow_id = attributes.workflow_id_for(call.call_id)
    reminders = sorted(call.reminders, key=lambda r: local(r.due_date_time, zone))
    return _page(
        "report_detail.html",
        call=call,
        live=live,
        tz_name=tz_name,
        started_at=local(call.created_at, zone),
        customer=customer,
        greeting=greeting,
        status_label=_STATUS_LABELS.get(call.status, str(call.status)),
        satisfaction=_SATISFACTION.get(call.synthesis.satisfaction) if call.synthesis else None,
        claim_rows=_claim_rows(call, zone),
        closed_claims=_closed_claims(call, zone),
        reminders=[
            {"reminder": r, "label": reminder_label(r), "due": local(r.due_date_time, zone)}
            for r in reminders
        ],
        timeline=_timeline(call, zone, customer),
        workflow_id=workflow_id,
        temporal_url=services.settings.temporal.workflow_url(workflow_id),
        call_me=_call_me_number(call, services),
        list_url=_list_url(call.initiate.phone_number, DEFAULT_PAGE_SIZE),
    )
