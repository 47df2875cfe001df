"""`python -m cli.campaigns`: create an outbound campaign from a CSV file, follow it, pause,
resume or cancel it -- all through the HTTP API.

The CSV needs a `phone_number` column (E.164); every other non-empty column is a variable of
the contact (`{name}` in the task, and a claim field's prefill when it has its name).

    python -m cli.campaigns create contacts.csv --task "Call {first_name} about ..." \\
        --concurrency 5 --hours 09:00-20:00 --days mon,tue,wed,thu,fri
    python -m cli.campaigns show CAMPAIGN_ID
    python -m cli.campaigns pause|resume|cancel CAMPAIGN_ID
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from pathlib import Path
from typing import Any

import httpx

from core.settings import get_settings

PAGE = 200  # contacts per request: a page stays under the API's 64 KiB body cap


def read_contacts(path: Path) -> list[dict[str, Any]]:
    """Contacts from a CSV file; raises ValueError naming the problem."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fields = [f.strip() for f in reader.fieldnames or []]
        if "phone_number" not in fields:
            raise ValueError(f"{path}: no phone_number column (columns: {', '.join(fields)})")
        contacts = []
        for row in reader:
            clean = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            number = clean.pop("phone_number")
            if not number:
                continue
            contacts.append(
                {"phone_number": number, "variables": {k: v for k, v in clean.items() if v}}
            )
    if not contacts:
        raise ValueError(f"{path}: no contact")
    return contacts


def campaign_body(args: argparse.Namespace, contacts: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": args.name or "",
        "contacts": contacts[:PAGE],
        "concurrency": args.concurrency,
        "paused": len(contacts) > PAGE,
    }
    if args.task:
        body["call"] = {"task": args.task}
    if args.hours:
        start, _, end = args.hours.partition("-")
        body["calling_hours"] = {
            "start": start,
            "end": end,
            "days": args.days.split(","),
        }
    if args.do_not_call:
        body["do_not_call"] = [line.strip() for line in args.do_not_call.read_text().split()]
    return body


async def run(args: argparse.Namespace) -> int:
    settings = get_settings()
    base = args.api or f"http://{settings.api.host}:{settings.api.port}"
    headers = {settings.api.key_header: args.api_key} if args.api_key else {}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as api:
        if args.action == "create":
            try:
                contacts = read_contacts(Path(args.target))
            except (OSError, ValueError) as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            response = await api.post("/campaigns", json=campaign_body(args, contacts))
            if response.status_code != 201:
                return _failed(response)
            campaign_id = response.json()["campaign_id"]
            for start in range(PAGE, len(contacts), PAGE):
                page = {"contacts": contacts[start : start + PAGE]}
                added = await api.post(f"/campaigns/{campaign_id}/contacts", json=page)
                if added.status_code != 200:
                    return _failed(added)
            if len(contacts) > PAGE:
                resumed = await api.post(f"/campaigns/{campaign_id}/resume")
                if resumed.status_code != 202:
                    return _failed(resumed)
            print(f"campaign {campaign_id}: {len(contacts)} contacts")
            return 0
        if args.action == "show":
            response = await api.get(f"/campaigns/{args.target}")
        else:
            response = await api.post(f"/campaigns/{args.target}/{args.action}")
        if response.status_code not in (200, 202):
            return _failed(response)
        view = response.json()
        print(f"{view['status']}: {sum(view['outcomes'].values())} of {view['contacts']} done")
        print(json.dumps(view["outcomes"], indent=2, sort_keys=True))
        return 0


def _failed(response: httpx.Response) -> int:
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:500]
    print(f"error {response.status_code}: {message}", file=sys.stderr)
    return 1


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cli.campaigns", description=__doc__)
    parser.add_argument("action", choices=["create", "show", "pause", "resume", "cancel"])
    parser.add_argument("target", help="the CSV file (create) or the campaign id")
    parser.add_argument("--api", default=None, help="API base URL (default: from settings)")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--name", default=None)
    parser.add_argument("--task", default=None, help="the calls' task; {column} placeholders")
    parser.add_argument("--concurrency", type=int, default=5)
    parser.add_argument("--hours", default=None, help="local calling hours, e.g. 09:00-20:00")
    parser.add_argument("--days", default="mon,tue,wed,thu,fri,sat")
    parser.add_argument("--do-not-call", type=Path, default=None, help="file of numbers")
    return parser


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
