"""The adaptive end of turn: the verdict on an early transcript, and the detector acting on it."""

from __future__ import annotations

import asyncio

import pytest

from media_gateway import end_of_turn
from media_gateway.end_of_turn import Verdict, hold_ms, judge
from media_gateway.listening import SpeechEnded, SpeechPaused, TurnDetector

FRAME_S = 0.032  # Silero's frame at 16 kHz
HOLD_MS = 1500  # the session's `number_hold_ms`


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("My car was stolen yesterday.", "en-US"),
        ("Can you send me the form by email?", "en-US"),
        ("What does it look like?", "en-US"),  # a question, whatever its last word
        ("Yes, I did.", "en-US"),  # a verb after its pronoun: a whole short answer
        ("I think so.", "en-US"),
        ("No, thank you.", "en-US"),
        ("yes", "en-US"),  # a short answer without punctuation
        ("That's right", "en-US"),
        ("Yes, I did", "en-US"),
        ("Non merci", "fr-FR"),
        ("My email is jane.miller@example.com.", "en-US"),
        ("My email is jane dot miller at example dot com.", "en-US"),
        ("I sent you an email yesterday.", "en-US"),  # an email, not one being dictated
        ("Oui, c'est ça.", "fr-FR"),
        ("Est-ce que je dois appeler la police ?", "fr-FR"),
    ],
)
def test_a_complete_sentence_or_question_ends_soon(text: str, lang: str) -> None:
    assert judge(text, lang) is Verdict.COMPLETE


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("", "en-US"),  # nothing heard (noise)
        ("I hope so", "en-US"),  # no punctuation: not clearly over
        ("It cost me", "en-US"),
    ],
)
def test_a_transcript_not_clearly_complete_waits_the_configured_silence(
    text: str, lang: str
) -> None:
    assert judge(text, lang) is Verdict.INCOMPLETE
    # Then a little more: the recogniser may have dropped the "um" the caller paused on.
    assert hold_ms(text, lang, adaptive=True, number_hold_ms=HOLD_MS) == end_of_turn.UNSURE_HOLD_MS


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("I was driving to work and", "en-US"),
        ("The accident happened on the", "en-US"),
        ("My car was", "en-US"),  # a verb after a noun: the clause goes on
        ("My car was.", "en-US"),  # Whisper's full stop after a fragment
        ("I called you because.", "en-US"),
        ("It was late in the evening, so", "en-US"),
        ("The windscreen was...", "en-US"),
        ("The damage is mostly on the left,", "en-US"),
        ("I was driving to work in.", "en-US"),  # Whisper's "in." for a cut "and"
        ("I think it was.", "en-US"),  # a verb after its pronoun, but no short answer
        ("Le véhicule était dans le", "fr-FR"),
        ("Je vous appelle parce que", "fr-FR"),
        ("J'ai eu un accident avec l'", "fr-FR"),
        ("My phone number is 06 12", "en-US"),
        ("The policy number is four seven", "en-US"),
        ("My email is jane dot", "en-US"),
        ("It happened on, um", "en-US"),
        ("The car is a, uh,", "en-US"),
        ("I was, you know", "en-US"),
        ("C'est, euh", "fr-FR"),
        ("My email is jane.", "en-US"),  # an email without its domain yet
        ("My email is jane dot miller", "en-US"),
    ],
)
def test_a_sentence_clearly_going_on_holds_longer(text: str, lang: str) -> None:
    assert judge(text, lang) is Verdict.HOLD
    assert hold_ms(text, lang, adaptive=True, number_hold_ms=HOLD_MS) == HOLD_MS


def test_only_dictation_holds_when_the_end_of_turn_does_not_adapt() -> None:
    for text in ["It happened on, um", "I was driving to work and", "It cost me"]:
        assert hold_ms(text, "en-US", adaptive=False, number_hold_ms=HOLD_MS) == 0
    assert hold_ms("My number is 06 12", "en-US", adaptive=False, number_hold_ms=HOLD_MS) == HOLD_MS


def test_a_complete_sentence_is_not_held() -> None:
    text = "My car was stolen yesterday."
    assert hold_ms(text, "en-US", adaptive=True, number_hold_ms=HOLD_MS) == 0


def test_the_short_silence_never_exceeds_the_configured_one() -> None:
    assert end_of_turn.silence_ms(Verdict.COMPLETE, 500) == end_of_turn.SHORT_SILENCE_MS
    assert end_of_turn.silence_ms(Verdict.COMPLETE, 150) == 150
    assert end_of_turn.silence_ms(Verdict.INCOMPLETE, 500) == 500
    assert end_of_turn.silence_ms(Verdict.HOLD, 800) == 800


def test_an_unknown_language_reads_every_language_s_words() -> None:
    assert judge("Je vous appelle parce que", "de-DE") is Verdict.HOLD
    assert judge("I was driving and", "xx") is Verdict.HOLD
    assert judge("Danke.", "de-DE") is Verdict.COMPLETE


# --- the detector --------------------------------------------------------------------------


def _speak(detector: TurnDetector, frames: int, at: float) -> float:
    for _ in range(frames):
        at += FRAME_S
        detector.push(b"\x01\x00" * 512, True, at)
    assert detector.in_speech
    return at


def _quiet_until_pause(detector: TurnDetector, at: float) -> tuple[SpeechPaused, float]:
    for _ in range(50):
        at += FRAME_S
        event = detector.push(bytes(1024), False, at)
        if isinstance(event, SpeechPaused):
            return event, at
        assert event is None
    raise AssertionError("no pause")


def _done(text: str) -> asyncio.Future[str]:
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    future.set_result(text)
    return future


def _silence_until_end(detector: TurnDetector, at: float) -> int:
    """Silent frames pushed until the utterance ended (the pause's frames not counted)."""
    for k in range(1, 100):
        at += FRAME_S
        if isinstance(detector.push(bytes(1024), False, at), SpeechEnded):
            return k
    raise AssertionError("no end")


async def test_a_complete_early_transcript_ends_the_turn_after_the_short_silence() -> None:
    detector = TurnDetector(FRAME_S, silence_ms=500)
    detector.set_adaptive(True)
    at = _speak(detector, 30, 0.0)
    paused, at = _quiet_until_pause(detector, at)
    assert detector._silent_run * FRAME_S * 1000 == pytest.approx(end_of_turn.EARLY_STT_MS, abs=20)
    detector.heard(paused.pcm, _done("The other driver did not stop."), "en-US")
    assert detector.verdicts == [Verdict.COMPLETE]
    _silence_until_end(detector, at)
    assert detector.end_silences_ms[-1] == pytest.approx(end_of_turn.SHORT_SILENCE_MS, abs=20)


async def test_an_incomplete_transcript_waits_the_configured_silence() -> None:
    detector = TurnDetector(FRAME_S, silence_ms=500)
    detector.set_adaptive(True)
    paused, at = _quiet_until_pause(detector, _speak(detector, 30, 0.0))
    detector.heard(paused.pcm, _done("I was driving to work and"), "en-US")
    _silence_until_end(detector, at)
    assert detector.verdicts == [Verdict.HOLD]  # then the session holds the turn (`holds`)
    assert detector.end_silences_ms[-1] == pytest.approx(500, abs=20)


async def test_the_caller_speaking_again_makes_the_verdict_stale() -> None:
    detector = TurnDetector(FRAME_S, silence_ms=500)
    detector.set_adaptive(True)
    paused, at = _quiet_until_pause(detector, _speak(detector, 30, 0.0))
    at = _speak(detector, 10, at)  # the transcript comes back after the caller went on
    detector.heard(paused.pcm, _done("My car was stolen."), "en-US")
    assert detector.verdicts == []
    # Decided, then the caller goes on before the short silence: the decision is dropped too.
    paused, at = _quiet_until_pause(detector, at)
    detector.heard(paused.pcm, _done("My car was stolen."), "en-US")
    at = _speak(detector, 5, at)
    _silence_until_end(detector, at)
    assert detector.end_silences_ms[-1] == pytest.approx(500, abs=20)


async def test_without_the_flag_the_silence_is_fixed_and_the_pause_is_the_pre_roll() -> None:
    detector = TurnDetector(FRAME_S, silence_ms=500, pre_roll_ms=200)
    detector.set_adaptive(False)
    paused, at = _quiet_until_pause(detector, _speak(detector, 30, 0.0))
    assert detector._silent_run * FRAME_S * 1000 == pytest.approx(200, abs=20)
    detector.heard(paused.pcm, _done("The other driver did not stop."), "en-US")
    assert detector.verdicts == []
    _silence_until_end(detector, at)
    assert detector.end_silences_ms[-1] == pytest.approx(500, abs=20)


async def test_a_failed_or_cancelled_transcript_changes_nothing() -> None:
    detector = TurnDetector(FRAME_S, silence_ms=500)
    detector.set_adaptive(True)
    paused, at = _quiet_until_pause(detector, _speak(detector, 30, 0.0))
    failed: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    failed.set_exception(RuntimeError("recogniser down"))
    cancelled: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    cancelled.cancel()
    detector.heard(paused.pcm, failed, "en-US")
    detector.heard(paused.pcm, cancelled, "en-US")
    _silence_until_end(detector, at)
    assert detector.verdicts == []
    assert detector.end_silences_ms[-1] == pytest.approx(500, abs=20)


async def test_the_ended_audio_is_the_paused_audio_whose_transcript_is_under_way() -> None:
    for adaptive in (False, True):
        detector = TurnDetector(FRAME_S, silence_ms=500)
        detector.set_adaptive(adaptive)
        paused, at = _quiet_until_pause(detector, _speak(detector, 30, 0.0))
        for _ in range(40):
            at += FRAME_S
            event = detector.push(bytes(1024), False, at)
            if isinstance(event, SpeechEnded):
                assert event.pcm == paused.pcm
                break
        else:
            raise AssertionError("no end")


async def test_the_short_silence_is_the_flag_s() -> None:
    detector = TurnDetector(FRAME_S, silence_ms=800)
    detector.set_adaptive(True, short_ms=400)
    paused, at = _quiet_until_pause(detector, _speak(detector, 30, 0.0))
    detector.heard(paused.pcm, _done("Can you send me the form by email?"), "en-US")
    _silence_until_end(detector, at)
    assert detector.end_silences_ms[-1] == pytest.approx(400, abs=20)
