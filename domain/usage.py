"""What one call used, and what that cost: counters the workflow keeps, priced at the end.

Pure domain code (the workflow sandbox imports it). Where a unit is not counted directly it is
estimated from the call's state, and the estimate is named here:

- LLM tokens: counted, per model, from the usage chunk of each completed stream (an attempt
  that failed mid-stream is not counted: its tokens are billed but unknown).
- Telephony and media-stream minutes: from `CallConnected` to `CallDisconnected` of each
  connection, billed per started minute, at the rate of its direction.
- STT audio seconds: the connected time (a streaming recogniser is sent all the audio).
- TTS characters: the bot's spoken messages (static notices and fillers are not stored as
  messages and not counted).
- SMS segments: the bot's text messages, split as carriers do (GSM-7 or UCS-2).
- Temporal actions: counted from the workflow's history by an activity (`activities/usage.py`);
  queries leave no trace in history and are not counted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from domain.prices import PER_MILLION, PriceTable

if TYPE_CHECKING:
    from domain.call import CallState

Direction = Literal["outbound", "inbound"]


class LlmTokens(BaseModel):
    """Tokens of one model (for a call: summed over its requests)."""

    model: str
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    cached_prompt_tokens: int = Field(default=0, ge=0)
    requests: int = Field(default=0, ge=0)


class CostLine(BaseModel):
    """One priced item: `quantity` (in `unit`) at `unit_price` (per `price_per`)."""

    item: str
    quantity: float
    unit: str
    unit_price: float
    price_per: str = ""
    cost: float


class CallCost(BaseModel):
    """A call's cost at the prices of `as_of` (kept with the call: prices change)."""

    as_of: date
    currency: str
    lines: list[CostLine]
    total: float


class CallUsage(BaseModel):
    """The counters of one call (`CallState.usage`)."""

    llm: list[LlmTokens] = Field(default_factory=list)
    # The connection now up (None when none is) and since when; closed segments are summed.
    connected_since: datetime | None = None
    connected_direction: Direction | None = None
    recording_since: datetime | None = None
    connected_seconds: float = 0.0
    outbound_minutes: int = 0
    inbound_minutes: int = 0
    recorded_seconds: float = 0.0
    stt_audio_seconds: float = 0.0
    tts_characters: int = 0
    sms_segments: int = 0
    temporal_actions: int = 0
    cost: CallCost | None = None

    def add_llm(self, used: Iterable[LlmTokens]) -> None:
        for tokens in used:
            known = next((t for t in self.llm if t.model == tokens.model), None)
            if known is None:
                self.llm.append(tokens.model_copy())
                continue
            known.prompt_tokens += tokens.prompt_tokens
            known.completion_tokens += tokens.completion_tokens
            known.cached_prompt_tokens += tokens.cached_prompt_tokens
            known.requests += tokens.requests

    def line_connected(self, at: datetime, direction: Direction) -> None:
        if self.connected_since is None:
            self.connected_since = at
            self.connected_direction = direction

    def recording_started(self, at: datetime) -> None:
        if self.recording_since is None:
            self.recording_since = at

    def line_disconnected(self, at: datetime) -> None:
        """Close the connection's segment (billed per started minute)."""
        if self.recording_since is not None:
            self.recorded_seconds += max(0.0, (at - self.recording_since).total_seconds())
            self.recording_since = None
        if self.connected_since is None:
            return
        seconds = max(0.0, (at - self.connected_since).total_seconds())
        self.connected_seconds += seconds
        minutes = math.ceil(seconds / 60)
        if self.connected_direction == "inbound":
            self.inbound_minutes += minutes
        else:
            self.outbound_minutes += minutes
        self.connected_since = None
        self.connected_direction = None

    @property
    def billed_minutes(self) -> int:
        return self.outbound_minutes + self.inbound_minutes


def measure(call: CallState, now: datetime) -> CallUsage:
    """The call's counters, with what is estimated from its state filled in (see the module
    docstring); an open connection is closed at `now`. Leaves `call` unchanged."""
    usage = call.usage.model_copy(deep=True)
    usage.line_disconnected(now)
    spoken = 0
    segments = 0
    for message in call.messages:
        if message.persona != "assistant":
            continue
        if message.action == "sms":
            segments += sms_segments(message.content)
        elif message.action == "talk" and call.channel == "phone":
            spoken += len(message.content)
    usage.tts_characters = spoken
    usage.sms_segments = segments
    usage.stt_audio_seconds = usage.connected_seconds if call.channel == "phone" else 0.0
    return usage


# GSM 03.38: the basic set (one septet) and the extension table (two: escape + char).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = frozenset("^{}\\[~]|€\f")


def sms_segments(text: str) -> int:
    """How many segments a carrier bills for `text`: GSM-7 160 (153 per part when split),
    else UCS-2 70 (67 per part), counting UTF-16 code units."""
    if not text:
        return 0
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text):
        units = sum(2 if c in _GSM_EXTENDED else 1 for c in text)
        single, part = 160, 153
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if units <= single else math.ceil(units / part)


# What a unit price is for, by (unit counted, divisor).
_PRICE_PER: dict[tuple[str, float], str] = {
    ("audio s", 3_600): "audio hour",
    ("char", PER_MILLION): "1M chars",
    ("token", PER_MILLION): "1M tokens",
    ("action", PER_MILLION): "1M actions",
}


def price(usage: CallUsage, prices: PriceTable, *, phone: bool) -> CallCost:
    """Every counter times its unit price; lines with a zero quantity are left out."""
    lines: list[CostLine] = []

    def add(item: str, quantity: float, unit: str, unit_price: float, per: float = 1) -> None:
        if quantity > 0:
            cost = quantity * unit_price / per
            lines.append(
                CostLine(
                    item=item,
                    quantity=quantity,
                    unit=unit,
                    unit_price=unit_price,
                    price_per=_PRICE_PER.get((unit, per), unit),
                    cost=round(cost, 6),
                )
            )

    add("telephony_outbound", usage.outbound_minutes, "min", prices.telephony_outbound_per_min)
    add("telephony_inbound", usage.inbound_minutes, "min", prices.telephony_inbound_per_min)
    if phone:
        add("media_stream", usage.billed_minutes, "min", prices.media_stream_per_min)
    add("stt", round(usage.stt_audio_seconds, 3), "audio s", prices.stt_per_hour, 3_600)
    add("tts", usage.tts_characters, "char", prices.tts_per_million_chars, PER_MILLION)
    for tokens in usage.llm:
        model = prices.llm_price(tokens.model)
        cached = min(tokens.cached_prompt_tokens, tokens.prompt_tokens)
        cached_price = model.cached_input_per_million
        if cached_price is None:
            cached, cached_price = 0, model.input_per_million
        input_tokens = tokens.prompt_tokens - cached
        add(
            f"llm_input:{tokens.model}", input_tokens, "token", model.input_per_million, PER_MILLION
        )
        add(f"llm_cached_input:{tokens.model}", cached, "token", cached_price, PER_MILLION)
        output = model.output_per_million
        add(f"llm_output:{tokens.model}", tokens.completion_tokens, "token", output, PER_MILLION)
    add("recording", math.ceil(usage.recorded_seconds / 60), "min", prices.recording_per_min)
    add("sms", usage.sms_segments, "segment", prices.sms_per_segment)
    temporal = prices.temporal_per_million_actions
    add("temporal", usage.temporal_actions, "action", temporal, PER_MILLION)
    return CallCost(
        as_of=prices.as_of,
        currency=prices.currency,
        lines=lines,
        total=round(sum(line.cost for line in lines), 6),
    )


class PriceCallInput(BaseModel):
    """Price a call's usage (activity `price_call`): counters only, no personal data."""

    workflow_id: str
    run_id: str
    usage: CallUsage
    phone: bool
    # Actions the workflow knows it will still take (post-call, webhooks, the last save).
    actions_after: int = Field(default=0, ge=0)
