"""Usage counters and their cost (`domain/usage.py`, `domain/prices.py`), and the Temporal
actions counted from a real workflow history (`activities/usage.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.call import Action, CallInitiate, CallState, Message, Persona
from domain.prices import LlmPrice, PriceTable
from domain.usage import CallUsage, LlmTokens, measure, price, sms_segments

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_the_reference_five_minute_call_costs_what_the_reference_says() -> None:
    """operations.md §5.4: a 5-minute US outbound call at list prices, ≈ $0.22."""
    usage = CallUsage(
        outbound_minutes=5,
        stt_audio_seconds=300,
        tts_characters=2_250,
        llm=[LlmTokens(model="gpt-4o-mini", prompt_tokens=60_000, completion_tokens=2_000)],
        temporal_actions=70,
    )
    cost = price(usage, PriceTable(), phone=True)
    lines = {line.item: line.cost for line in cost.lines}
    # The reference's rows: PSTN $0.065, media $0.020, STT $0.083, TTS $0.034, LLM $0.010,
    # Temporal $0.004.
    assert lines["telephony_outbound"] == pytest.approx(0.065)
    assert lines["media_stream"] == pytest.approx(0.020)
    assert lines["stt"] == pytest.approx(0.083, abs=5e-4)
    assert lines["tts"] == pytest.approx(0.034, abs=5e-4)
    llm = lines["llm_input:gpt-4o-mini"] + lines["llm_output:gpt-4o-mini"]
    assert llm == pytest.approx(0.010, abs=1e-3)
    assert lines["temporal"] == pytest.approx(0.0035)
    assert cost.total == pytest.approx(0.22, abs=0.01)
    assert cost.as_of == PriceTable().as_of and cost.currency == "USD"
    per = {line.item: line.price_per for line in cost.lines}
    assert per["stt"] == "audio hour" and per["tts"] == "1M chars"
    assert per["llm_input:gpt-4o-mini"] == "1M tokens" and per["telephony_outbound"] == "min"


def test_a_chat_call_has_no_media_stream_and_empty_lines_are_left_out() -> None:
    usage = CallUsage(llm=[LlmTokens(model="m", prompt_tokens=1_000, completion_tokens=10)])
    cost = price(usage, PriceTable(), phone=False)
    assert [line.item for line in cost.lines] == ["llm_input:m", "llm_output:m"]
    assert cost.total == pytest.approx(1_000 * 0.15 / 1e6 + 10 * 0.60 / 1e6)


def test_cached_prompt_tokens_use_their_own_price_only_when_the_model_has_one() -> None:
    tokens = LlmTokens(model="m", prompt_tokens=1_000_000, cached_prompt_tokens=400_000)
    usage = CallUsage(llm=[tokens])
    plain_prices = PriceTable(llm={"m": LlmPrice(input_per_million=2, output_per_million=8)})
    plain = price(usage, plain_prices, phone=False)
    cached = price(
        usage,
        PriceTable(
            llm={
                "m": LlmPrice(input_per_million=2, output_per_million=8, cached_input_per_million=1)
            }
        ),
        phone=False,
    )
    assert plain.total == pytest.approx(2.0)  # all input at the input price
    assert cached.total == pytest.approx(0.6 * 2 + 0.4 * 1)


def test_llm_tokens_add_up_per_model() -> None:
    usage = CallUsage()
    usage.add_llm([LlmTokens(model="fast", prompt_tokens=10, completion_tokens=2, requests=1)])
    usage.add_llm([LlmTokens(model="slow", prompt_tokens=7, completion_tokens=1, requests=1)])
    usage.add_llm([LlmTokens(model="fast", prompt_tokens=5, completion_tokens=3, requests=1)])
    assert [(t.model, t.prompt_tokens, t.completion_tokens, t.requests) for t in usage.llm] == [
        ("fast", 15, 5, 2),
        ("slow", 7, 1, 1),
    ]


def test_each_connection_is_billed_per_started_minute_at_its_direction_rate() -> None:
    usage = CallUsage()
    usage.line_connected(T0, "outbound")
    usage.recording_started(T0 + timedelta(seconds=1))
    usage.line_disconnected(T0 + timedelta(seconds=61))  # 61 s: 2 minutes
    usage.line_connected(T0 + timedelta(hours=1), "inbound")
    usage.line_connected(T0 + timedelta(hours=1, seconds=5), "inbound")  # a second event
    usage.line_disconnected(T0 + timedelta(hours=1, seconds=30))
    usage.line_disconnected(T0 + timedelta(hours=2))  # already closed: nothing
    assert (usage.outbound_minutes, usage.inbound_minutes) == (2, 1)
    assert usage.connected_seconds == pytest.approx(91)
    assert usage.recorded_seconds == pytest.approx(60)
    cost = price(usage, PriceTable(), phone=True)
    lines = {line.item: line for line in cost.lines}
    assert lines["telephony_outbound"].cost == pytest.approx(2 * 0.013)
    assert lines["telephony_inbound"].cost == pytest.approx(1 * 0.022)
    assert lines["media_stream"].quantity == 3
    assert lines["recording"].quantity == 1


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 0),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),  # an extension character counts two septets
        ("€" * 81, 2),
        ("é" * 160, 1),  # in the GSM basic set
        ("ê" * 70, 1),  # not in it: UCS-2
        ("ê" * 71, 2),
        ("😀" * 35, 1),  # two UTF-16 units each
        ("😀" * 36, 2),
    ],
)
def test_sms_segments_follow_gsm7_and_ucs2(text: str, segments: int) -> None:
    assert sms_segments(text) == segments


def _phone_call() -> CallState:
    call = CallState(
        call_id="c1",
        created_at=T0,
        initiate=CallInitiate(
            phone_number="+33612345678",
            bot_company="Contoso",
            bot_name="Amélie",
            agent_phone_number="+33699999999",
        ),
        channel="phone",
    )
    say = "Hello, this is Amélie from Contoso."
    call.messages += [
        Message(created_at=T0, persona=Persona.HUMAN, action=Action.CALL),
        Message(created_at=T0, persona=Persona.ASSISTANT, content=say),
        Message(created_at=T0, persona=Persona.HUMAN, content="My car was stolen."),
        Message(created_at=T0, persona=Persona.ASSISTANT, content="I am sorry."),
        Message(created_at=T0, persona=Persona.ASSISTANT, action=Action.SMS, content="x" * 200),
    ]
    return call


def test_measure_estimates_tts_sms_and_stt_from_the_call_and_closes_the_line() -> None:
    call = _phone_call()
    call.usage.line_connected(T0, "outbound")
    usage = measure(call, T0 + timedelta(seconds=150))
    spoken = "Hello, this is Amélie from Contoso." + "I am sorry."
    assert usage.tts_characters == len(spoken)
    assert usage.sms_segments == 2
    assert usage.stt_audio_seconds == pytest.approx(150)
    assert usage.outbound_minutes == 3
    assert call.usage.connected_since == T0  # the call's own counters are left alone
    chat = call.model_copy(update={"channel": "chat", "usage": CallUsage()})
    chat_usage = measure(chat, T0)
    assert chat_usage.tts_characters == 0 and chat_usage.stt_audio_seconds == 0


def test_prices_come_from_the_settings_and_are_checked() -> None:
    from pydantic import ValidationError

    from core.settings import Settings

    settings = Settings(prices={"as_of": "2027-01-01", "stt_per_hour": 0.5})
    assert settings.prices.stt_per_hour == 0.5 and settings.prices.as_of.year == 2027
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Settings(prices={"tts_per_million_chars": -1})
