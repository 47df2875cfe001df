"""domain/analytics: the figures of a known set of calls, each worked out by hand."""

from __future__ import annotations

import pytest

from domain.analytics import IN_PROGRESS, aggregate, percentile
from tests.analytics.calls import DAY1, DAY2, sample


def test_figures_of_a_known_sample() -> None:
    result = aggregate(sample())

    assert (result.calls, result.ended, result.answered) == (6, 5, 4)
    assert result.answer_rate == pytest.approx(4 / 5)
    assert result.claims_completed == 2  # c1 and c2; c3 was not answered
    assert result.claim_completion_rate == pytest.approx(2 / 4)
    assert (result.transfers, result.transfers_failed, result.handoffs_requested) == (1, 1, 2)
    # c6 never connected: no handle time.
    assert result.average_handle_seconds == pytest.approx((120 + 60 + 30 + 90) / 4)
    # One gap per caller message, to the bot's first sentence of the turn.
    assert sorted(result.reply_gaps) == [0.4, 0.8, 1.2, 2.0, 5.0]
    assert result.reply_gap_p50 == 1.2 and result.reply_gap_p95 == 5.0
    assert result.cost_by_currency == {"EUR": pytest.approx(0.60)}
    assert result.cost_per_call("EUR") == pytest.approx(0.60 / 4)
    assert result.cost_per_completed_claim("EUR") == pytest.approx(0.60 / 2)
    assert result.by_day[DAY1.date()] == {"completed": 1, "transferred": 1, "no_answer": 1}
    assert result.by_day[DAY2.date()] == {
        "caller_hung_up": 1,
        "transfer_failed": 1,
        IN_PROGRESS: 1,
    }
    assert result.outcomes() == [
        "completed",
        "no_answer",
        "caller_hung_up",
        "transferred",
        "transfer_failed",
        IN_PROGRESS,
    ]


def test_no_calls_gives_no_rates() -> None:
    result = aggregate([])
    assert result.calls == 0
    assert result.answer_rate is None and result.claim_completion_rate is None
    assert result.average_handle_seconds is None and result.reply_gap_p95 is None
    assert result.cost_per_call("EUR") is None


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50 and percentile(values, 95) == 95
    assert percentile([3.0], 95) == 3.0 and percentile([], 50) is None
