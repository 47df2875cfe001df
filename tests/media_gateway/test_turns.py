"""Turn-taking text rules: unfinished numbers and spellings, backchannels (EN/FR)."""

from __future__ import annotations

import pytest

from media_gateway.turns import implausible, is_backchannel, join, unfinished


@pytest.mark.parametrize(
    "text",
    [
        "My number is 06 12.",
        "My number is 06-12.",  # as Whisper writes digit groups
        "06/12",
        "c'est le zéro six",
        "D U P",
        "my number is",
        "john dot",
    ],
)
def test_unfinished(text: str) -> None:
    assert unfinished(text)


@pytest.mark.parametrize(
    "text",
    [
        "I had an accident.",
        "06 12 34 56 78",
        "06-12-34-56-78",
        "Yes, please.",
        "",
        "Merci beaucoup.",
        "a well-known garage",
    ],
)
def test_finished(text: str) -> None:
    assert not unfinished(text)


@pytest.mark.parametrize(
    "text",
    ["Mhm.", "ok yeah", "Uh-huh.", "Oui, d'accord.", "", "Ouais.", "MHN.", "Hmm, okay.", "mm-hmm"],
)
def test_backchannels(text: str) -> None:
    assert is_backchannel(text)


@pytest.mark.parametrize(
    "text", ["Stop.", "No, wait.", "Attendez, non.", "Yes, it's my car.", "Name.", "Hm, no."]
)
def test_not_backchannels(text: str) -> None:
    assert not is_backchannel(text)


@pytest.mark.parametrize(
    ("text", "speech_s", "made_up"),
    [
        ("and make them.", 0.45, True),  # Whisper, given half a second of "mhm"
        ("Wait", 0.3, False),
        ("No, stop.", 0.45, False),
        ("Wait, which garage are you talking about?", 1.6, False),
        ("I would like to report a car accident that happened yesterday.", 0.8, True),
    ],
)
def test_implausible_transcripts(text: str, speech_s: float, made_up: bool) -> None:
    assert implausible(text, speech_s) is made_up


def test_join_drops_the_full_stops_between_pieces() -> None:
    assert join(["My number is 06 12.", " 34 56 78."]) == "My number is 06 12 34 56 78."
