"""Unit prices of what a call uses (USD), with the date they were checked.

The defaults are list prices from `shared/reference/operations.md` §5.2 (sources there); prices
change, so every deployment should set its own (`prices:` in the settings). Items the reference
gives no price for (recording, SMS) carry a placeholder noted below. Pure data: the workflow
sandbox may import it.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

PER_MILLION = 1_000_000


class LlmPrice(BaseModel):
    """USD per million tokens of one model."""

    model_config = ConfigDict(frozen=True)

    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)
    # Cached prompt tokens; None: billed as ordinary input.
    cached_input_per_million: float | None = Field(default=None, ge=0)


# Azure OpenAI gpt-4o-mini (durable-llm-registry catalog/azure-openai, updated 2026-01-30).
GPT_4O_MINI = LlmPrice(input_per_million=0.15, output_per_million=0.60)


class PriceTable(BaseModel):
    """What each unit costs. `as_of` dates the table; a call's cost keeps the date it used."""

    model_config = ConfigDict(frozen=True)

    as_of: date = date(2026, 12, 7)
    currency: str = "USD"
    # ACS PSTN, per started minute (learn.microsoft.com voice-channel-pricing-scenarios, 2026).
    telephony_outbound_per_min: float = Field(default=0.013, ge=0)
    telephony_inbound_per_min: float = Field(default=0.022, ge=0)
    # ACS media streaming: $40 per 10,000 min (microsoft/call-center-ai README, 2024-12-10).
    media_stream_per_min: float = Field(default=0.004, ge=0)
    # Azure Speech standard real-time STT, $1.00 per audio hour (Retail Prices API, 2026-09-22).
    stt_per_hour: float = Field(default=1.00, ge=0)
    # Azure neural TTS, $15 per million characters (same source).
    tts_per_million_chars: float = Field(default=15.0, ge=0)
    # Not in the reference: placeholders to replace with the contract's prices.
    recording_per_min: float = Field(default=0.002, ge=0)
    sms_per_segment: float = Field(default=0.0075, ge=0)
    # Temporal Cloud, $50 per million actions (first tier; docs/evaluate/cloud/pricing.mdx 2026).
    temporal_per_million_actions: float = Field(default=50.0, ge=0)
    # Per model name as the settings name it (`llm.fast.model`); others use `llm_default`.
    llm: dict[str, LlmPrice] = Field(default_factory=dict)
    llm_default: LlmPrice = GPT_4O_MINI

    def llm_price(self, model: str) -> LlmPrice:
        return self.llm.get(model, self.llm_default)
