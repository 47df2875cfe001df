"""Feature flags: parsing, clamping, defaults, and live changes through Redis."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from domain.flags import FeatureFlags, InvalidFlag, flags_from_mapping, parse_flag
from providers.flags.redis_flags import RedisFlags


def test_defaults_are_the_reference_readme_values() -> None:
    flags = FeatureFlags()
    assert flags.answer_hard_timeout_sec == 15
    assert flags.answer_soft_timeout_sec == 4
    assert flags.callback_timeout_hour == 3
    assert flags.phone_silence_timeout_sec == 20
    assert flags.recognition_retry_max == 3
    assert flags.recognition_stt_complete_timeout_ms == 100
    assert flags.recording_enabled is False
    assert flags.slow_llm_for_chat is False
    assert (flags.vad_cutoff_timeout_ms, flags.vad_silence_timeout_ms) == (250, 500)
    assert flags.vad_threshold == 0.5


def test_values_are_clamped_and_bad_ones_defaulted() -> None:
    assert parse_flag("vad_threshold", "7") == 1.0
    assert parse_flag("vad_threshold", "0.01") == 0.1
    assert parse_flag("answer_hard_timeout_sec", "0") == 1
    assert parse_flag("recording_enabled", "yes") is True
    assert parse_flag("answer_hard_timeout_sec", "soon") == 15
    assert parse_flag("answer_hard_timeout_sec", "2.5") == 15  # not an int
    flags = flags_from_mapping(
        {"vad_threshold": "0.3", "unknown": "1", "callback_timeout_hour": "x"}
    )
    assert flags.vad_threshold == 0.3 and flags.callback_timeout_hour == 3


def test_strict_parsing_reports_typos() -> None:
    with pytest.raises(InvalidFlag, match="not a valid int"):
        parse_flag("answer_hard_timeout_sec", "soon", strict=True)
    with pytest.raises(InvalidFlag, match="unknown flag 'vad_treshold'"):
        parse_flag("vad_treshold", "0.4", strict=True)


async def test_changes_in_redis_are_seen_after_the_cache_ttl(redis: Redis) -> None:
    writer = RedisFlags(redis, key="flags:test-ttl", ttl_sec=0)
    reader = RedisFlags(redis, key="flags:test-ttl", ttl_sec=60)
    assert (await reader.get()).answer_soft_timeout_sec == 4
    assert await writer.set("answer_soft_timeout_sec", "9") == 9
    assert (await reader.get()).answer_soft_timeout_sec == 4  # cached for up to a minute
    reader._expires = 0  # the minute has passed
    assert (await reader.get()).answer_soft_timeout_sec == 9
    await redis.hset("flags:test-ttl", "vad_threshold", "banana")  # typo written by hand
    assert (await writer.get()).vad_threshold == 0.5
    await writer.unset("answer_soft_timeout_sec")
    assert (await writer.get()).answer_soft_timeout_sec == 4
