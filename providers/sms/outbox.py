"""The offline SMS sender: each message is appended to a JSON-lines outbox file."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from domain.contracts import SendSmsResult


class OutboxSms:
    """Keeps messages in a local file (inspectable with `tail -f`); nothing leaves the machine."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    async def send(
        self,
        to: str,
        body: str,
        *,
        call_id: str | None = None,
        idempotency_key: str | None = None,
        first_sent: datetime | None = None,
    ) -> SendSmsResult:
        del first_sent
        record = {
            "id": str(uuid.uuid4()),
            "at": datetime.now(UTC).isoformat(),
            "to": to,
            "body": body,
            "call_id": call_id,
            "key": idempotency_key,
        }
        async with self._lock:
            await asyncio.to_thread(self._append, json.dumps(record, ensure_ascii=False))
        return SendSmsResult(message_id=record["id"] or "", delivered=False)

    async def find_sent(
        self, to: str, body: str, *, idempotency_key: str, since: datetime
    ) -> SendSmsResult | None:
        """The message an earlier attempt with this key wrote, if any."""
        del to, body, since  # the key names the message exactly
        async with self._lock:
            records = await asyncio.to_thread(self.read)
        for record in records:
            if record.get("key") == idempotency_key:
                return SendSmsResult(message_id=record["id"], delivered=False)
        return None

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(x) for x in self.path.read_text(encoding="utf-8").splitlines() if x]
