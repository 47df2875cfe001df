"""Cost per campaign: the calls' priced usage summed in one currency, per completed contact."""

from __future__ import annotations

from datetime import date

from domain.campaign import campaign_cost
from domain.usage import CallCost


def _cost(total: float, currency: str = "USD") -> CallCost:
    return CallCost(as_of=date(2026, 12, 7), currency=currency, lines=[], total=total)


def test_the_calls_costs_are_summed_per_completed_contact() -> None:
    summed = campaign_cost([_cost(0.03), _cost(0.0125), None, _cost(0.02)], completed_contacts=2)
    assert summed.currency == "USD" and summed.total == 0.0625
    assert (summed.calls, summed.priced_calls, summed.completed_contacts) == (4, 3, 2)
    assert summed.unpriced_calls == 1
    assert summed.per_completed_contact == 0.03125
    assert summed.other_currencies == {}


def test_no_completed_contact_or_no_priced_call_has_no_cost_per_contact() -> None:
    assert campaign_cost([_cost(0.01)], completed_contacts=0).per_completed_contact is None
    empty = campaign_cost([None, None], completed_contacts=1)
    assert (empty.currency, empty.total, empty.per_completed_contact) == (None, 0.0, None)


def test_calls_priced_in_another_currency_are_shown_apart() -> None:
    summed = campaign_cost([_cost(0.02), _cost(0.01, "EUR"), _cost(0.02)], completed_contacts=1)
    assert (summed.currency, summed.total, summed.priced_calls) == ("USD", 0.04, 2)
    assert summed.other_currencies == {"EUR": 0.01}
