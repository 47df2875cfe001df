"""Analytics page (server-rendered, charts as inline SVG, no script) and signed report links.

`/analytics` and `POST /signed-links` need the API key. `/signed/...` pages need none: they
check the link's signature and expiry (`api/signed_links.py`); the guard lets them through.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict, Field

from api import signed_links
from api.deps import Services, ServicesDep, require_api_key
from api.errors import ApiError
from api.routes import report
from api.routes.campaigns import campaign_store
from domain.analytics import IN_PROGRESS, Analytics, aggregate, days_between

router = APIRouter(tags=["analytics"], dependencies=[Depends(require_api_key)])
signed_router = APIRouter(prefix=signed_links.PREFIX, tags=["signed links"])

# Calls read per page view: a bigger range shows the first (newest) ones and says so.
CALL_CAP = 5_000
MAX_DAYS = 92
DEFAULT_DAYS = 7

# One colour per outcome, readable on light and dark backgrounds.
COLOURS = {
    "completed": "#2e9d5b",
    "transferred": "#1f77b4",
    "transfer_failed": "#9467bd",
    "caller_hung_up": "#e0a100",
    "abandoned": "#b07a4f",
    "voicemail": "#17becf",
    "no_answer": "#8c8c8c",
    "busy": "#d35f8d",
    "rejected": "#ff7f0e",
    "failed": "#d62728",
    IN_PROGRESS: "#5b3df5",
}

_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}


class SignedLinkRequest(BaseModel):
    """A link to one call's report (`call_id`) or to the analytics page (the other fields)."""

    model_config = ConfigDict(extra="forbid")

    call_id: str | None = Field(default=None, min_length=1, max_length=100)
    start: date | None = None
    end: date | None = None
    campaign_id: str | None = Field(default=None, min_length=1, max_length=100)
    ttl_s: int = Field(
        default=int(signed_links.DEFAULT_TTL.total_seconds()),
        ge=60,
        le=int(signed_links.MAX_TTL.total_seconds()),
    )


class SignedLink(BaseModel):
    url: str  # on `telephony.public_url`, the API's public base
    path: str  # the same link relative to the API's root
    expires_at: datetime


# --- Charts -----------------------------------------------------------------------------------


def day_chart(result: Analytics, days: list[date]) -> Markup:
    """Stacked bars of calls per day by outcome, as inline SVG with a title per segment."""
    width, height, left, bottom, top = 900, 260, 40, 40, 10
    plot_h = height - bottom - top
    peak = max((sum(c.values()) for c in result.by_day.values()), default=0) or 1
    slot = (width - left - 10) / max(len(days), 1)
    bar = min(48.0, max(2.0, slot * 0.7))
    parts = [
        f'<svg class="chart" id="calls-per-day" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Calls per day by outcome" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" '
        'stroke="currentColor" stroke-opacity=".4"/>',
        f'<text x="{left - 6}" y="{top + 10}" text-anchor="end" font-size="11" '
        f'fill="currentColor">{peak}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="11" '
        'fill="currentColor">0</text>',
    ]
    label_every = max(1, len(days) // 12)
    for index, day in enumerate(days):
        x = left + index * slot + (slot - bar) / 2
        y = float(top + plot_h)
        counts = result.by_day.get(day)
        for outcome in result.outcomes():
            count = counts[outcome] if counts else 0
            if not count:
                continue
            h = count / peak * plot_h
            y -= h
            title = escape(f"{day.isoformat()}: {count} {outcome.replace('_', ' ')}")
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{COLOURS.get(outcome, "#888")}" data-outcome="{escape(outcome)}" '
                f'data-day="{day.isoformat()}" data-count="{count}"><title>{title}</title></rect>'
            )
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                f'font-size="11" fill="currentColor">{day.strftime("%d %b")}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # numbers, dates and escaped text only


def gap_chart(gaps: list[float]) -> Markup:
    """Histogram of reply gaps in half-second bins (the last bin holds everything above)."""
    width, height, left, bottom, top, bins, step = 900, 200, 40, 36, 10, 12, 0.5
    counts = [0] * bins
    for gap in gaps:
        counts[min(int(gap / step), bins - 1)] += 1
    peak = max(counts) or 1
    plot_h = height - bottom - top
    slot = (width - left - 10) / bins
    parts = [
        f'<svg class="chart" id="reply-gaps" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Reply gap histogram" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" '
        'stroke="currentColor" stroke-opacity=".4"/>',
    ]
    for index, count in enumerate(counts):
        x = left + index * slot + slot * 0.1
        h = count / peak * plot_h
        low = index * step
        label = f"{low:g}–{low + step:g} s" if index < bins - 1 else f"≥ {low:g} s"
        parts.append(
            f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{slot * 0.8:.1f}" '
            f'height="{h:.1f}" fill="#5b3df5"><title>{label}: {count}</title></rect>'
            f'<text x="{x + slot * 0.4:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
            f'font-size="11" fill="currentColor">{label}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


# --- Page -------------------------------------------------------------------------------------


def _today() -> date:
    return datetime.now(UTC).date()


def _range(start: date | None, end: date | None) -> tuple[date, date]:
    """The inclusive day range asked for, defaulting to the last week.

    Raises:
        ValueError: `end` before `start`, or more than MAX_DAYS days.
    """
    end = end or _today()
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if end < start:
        raise ValueError("the end date is before the start date")
    if (end - start).days + 1 > MAX_DAYS:
        raise ValueError(f"a range spans at most {MAX_DAYS} days")
    return start, end


def _params(start: date, end: date, campaign_id: str | None) -> dict[str, str]:
    params = {"start": start.isoformat(), "end": end.isoformat()}
    if campaign_id:
        params["campaign_id"] = campaign_id
    return params


async def _campaign_calls(services: Services, campaign_id: str) -> set[str] | None:
    """The call ids of the campaign's attempts; None when there is no such campaign."""
    async with campaign_store(services) as store:
        if await store.get(campaign_id) is None:
            return None
        return {attempt.call_id for attempt in await store.attempts(campaign_id)}


async def _analytics_page(
    services: Services,
    start: date | None,
    end: date | None,
    campaign_id: str | None,
    *,
    signed: bool,
) -> HTMLResponse:
    context: dict[str, Any] = {"error": None, "signed": signed, "campaign_id": campaign_id}
    try:
        first, last = _range(start, end)
    except ValueError as exc:
        first = last = _today()
        context |= {"error": str(exc), "start": start or first, "end": end or last}
        return report._page("analytics.html", 422, **context)
    context |= {"start": first, "end": last}
    wanted: set[str] | None = None
    if campaign_id:
        wanted = await _campaign_calls(services, campaign_id)
        if wanted is None:
            context["error"] = "There is no campaign with that id."
            return report._page("analytics.html", 404, **context)
    since = datetime.combine(first, datetime.min.time(), UTC)
    until = datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC)
    page = await services.store.list_created_between(since, until, limit=CALL_CAP)
    calls = [c for c in page.calls if wanted is None or c.call_id in wanted]
    result = aggregate(calls)
    days = days_between(first, last)
    share = None
    if not signed:
        key = services.settings.telephony.call_secret_key
        path = f"{signed_links.PREFIX}/analytics"
        url, expires = signed_links.sign(
            key,
            path,
            _params(first, last, campaign_id),
            ttl=signed_links.DEFAULT_TTL,
            now=datetime.now(UTC),
        )
        public = services.settings.telephony.public_url.rstrip("/")
        share = {"url": f"{public}{url}", "expires": expires}
    context |= {
        "result": result,
        "capped": page.next_cursor is not None,
        "cap": CALL_CAP,
        "days": days,
        "rows": [(day, result.by_day.get(day)) for day in days],
        "outcomes": result.outcomes(),
        "colours": COLOURS,
        "day_chart": day_chart(result, days),
        "gap_chart": gap_chart(result.reply_gaps),
        "currencies": sorted(result.cost_by_currency),
        "share": share,
    }
    return report._page("analytics.html", **context)


DateQuery = Annotated[date | None, Query()]
CampaignQuery = Annotated[str | None, Query(min_length=1, max_length=100)]


@router.get(
    "/analytics",
    response_class=HTMLResponse,
    responses={
        404: {"description": "No such campaign", **_HTML},
        422: {"description": "A bad date range", **_HTML},
    },
)
async def analytics_page(
    services: ServicesDep,
    start: DateQuery = None,
    end: DateQuery = None,
    campaign_id: CampaignQuery = None,
) -> HTMLResponse:
    """Calls per day by outcome, answer rate, handle time, claims, transfers, reply gaps and
    cost, for a range of days (UTC, at most 92) and optionally one campaign."""
    return await _analytics_page(services, start, end, campaign_id, signed=False)


@router.post("/signed-links", status_code=201, responses={404: {"description": "No such call"}})
async def create_signed_link(body: SignedLinkRequest, services: ServicesDep) -> SignedLink:
    """A URL that opens one call's report, or the analytics page, without the API key until
    it expires (`ttl_s`, at most 30 days)."""
    key = services.settings.telephony.call_secret_key
    if body.call_id is not None:
        if body.start or body.end or body.campaign_id:
            raise ApiError(422, "a call link takes no start, end or campaign_id")
        if await services.store.get(body.call_id) is None:
            raise ApiError(404, "no call with that id")
        path, params = f"{signed_links.PREFIX}/report/{body.call_id}", {}
    else:
        try:
            first, last = _range(body.start, body.end)
        except ValueError as exc:
            raise ApiError(422, str(exc)) from None
        path, params = f"{signed_links.PREFIX}/analytics", _params(first, last, body.campaign_id)
    try:
        url, expires = signed_links.sign(
            key, path, params, ttl=timedelta(seconds=body.ttl_s), now=datetime.now(UTC)
        )
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    base = services.settings.telephony.public_url.rstrip("/")
    return SignedLink(url=f"{base}{url}", path=url, expires_at=expires)


# --- Signed pages (no API key) ----------------------------------------------------------------


def _refused(request: Request, services: Services) -> HTMLResponse | None:
    """The 403 page when the request's link is not valid now; None when it is."""
    try:
        signed_links.verify(
            services.settings.telephony.call_secret_key,
            request.url.path,
            request.query_params.multi_items(),
            now=datetime.now(UTC),
        )
    except signed_links.LinkRefused as exc:
        return report._page("analytics_403.html", 403, reason=str(exc))
    return None


_SIGNED: dict[int | str, dict[str, Any]] = {
    403: {"description": "Expired or altered link", **_HTML}
}


@signed_router.get("/analytics", response_class=HTMLResponse, responses=_SIGNED)
async def signed_analytics_page(
    request: Request,
    services: ServicesDep,
    start: DateQuery = None,
    end: DateQuery = None,
    campaign_id: CampaignQuery = None,
) -> HTMLResponse:
    """The analytics page through a signed link."""
    refused = _refused(request, services)
    if refused is not None:
        return refused
    return await _analytics_page(services, start, end, campaign_id, signed=True)


@signed_router.get("/report/{call_id}", response_class=HTMLResponse, responses=_SIGNED)
async def signed_report_page(call_id: str, request: Request, services: ServicesDep) -> HTMLResponse:
    """One call's report through a signed link."""
    refused = _refused(request, services)
    if refused is not None:
        return refused
    return await report.detail_page(call_id, services)
