"""Turn-taking text rules: unfinished numbers and spellings, backchannels (EN/FR)."""

from __future__ import annotations

import pytest

from media_gateway.turns import is_backchannel, join, unfinished


@pytest.mark.parametrize(
    "text",
    ["My number is 06 12.", "c'est le zéro six", "D U P", "my number is", "john dot"],
)
def test_unfinished(text: str) -> None:
    assert unfinished(text)


@pytest.mark.parametrize(
    "text", ["I had an accident.", "06 12 34 56 78", "Yes, please.", "", "Merci beaucoup."]
)
def test_finished(text: str) -> None:
    assert not unfinished(text)


@pytest.mark.parametrize("text", ["Mhm.", "ok yeah", "Uh-huh.", "Oui, d'accord.", "", "Ouais."])
def test_backchannels(text: str) -> None:
    assert is_backchannel(text)


@pytest.mark.parametrize("text", ["Stop.", "No, wait.", "Attendez, non.", "Yes, it's my car."])
def test_not_backchannels(text: str) -> None:
    assert not is_backchannel(text)


def test_join_drops_the_full_stops_between_pieces() -> None:
    assert join(["My number is 06 12.", " 34 56 78."]) == "My number is 06 12 34 56 78."
