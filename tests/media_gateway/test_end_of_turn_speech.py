"""The adaptive end of turn with real speech: Piper speaks as the caller (pauses inserted),
Silero VAD and Whisper listen in a `CallSession`, as `bench/end_of_turn.py` measures it.

Decisions, not timings: the configured silence is long (4 s) so that a loaded box, where
Whisper can take a second, still has the early transcript before the configured silence ends.
A complete sentence must end on its early transcript's verdict, long before the configured
silence; a caller still going (after "and", after "um", mid-number) must never be cut off:
one turn, with the last words in it.
"""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from bench.end_of_turn import compose, hear
from media_gateway import end_of_turn
from media_gateway.end_of_turn import Verdict
from media_gateway.engines import Engines
from providers.speech import models, piper_tts
from tests.support.engines import real_engines

SILENCE_MS = 4000
TAIL_S = 6.0  # room for the configured silence and a hold


@pytest.fixture(scope="module")
def engines() -> Engines:
    return real_engines()


@pytest.fixture(scope="module")
def caller() -> piper_tts.PiperTts:
    # No sampling noise: the same audio, so the same transcript, on every run.
    return piper_tts.PiperTts(*models.piper_voice(), noise_scale=0.0, noise_w_scale=0.0)


async def test_a_complete_question_ends_on_the_short_silence(
    redis: Redis, engines: Engines, caller: piper_tts.PiperTts
) -> None:
    # (Statements, questions and short answers are judged in `test_end_of_turn.py`.)
    text = "Can you send me the form by email?"
    spoken = await compose(caller, "complete", text, cache=None)
    heard = await hear(engines, redis, spoken, adaptive=True, silence_ms=SILENCE_MS, tail_s=TAIL_S)
    assert not heard.cut_off and len(heard.turns) == 1
    assert heard.verdicts == [Verdict.COMPLETE]
    # Ended by the verdict: at the short silence, or when the transcript came if later.
    (silence,) = heard.end_silences_ms
    assert end_of_turn.SHORT_SILENCE_MS - 40 <= silence < SILENCE_MS / 2


@pytest.mark.parametrize(
    ("kind", "text", "last_words"),
    [
        ("mid-sentence", "I was driving to work and <400> a van hit the back of my car.", "car"),
        ("um", "The man was, um, <700> very angry.", "angry"),
        (
            "number",
            "My number is zero six <800> one two <600> three four five six seven eight.",
            "8",
        ),
    ],
)
async def test_a_caller_still_going_is_never_cut_off(
    redis: Redis,
    engines: Engines,
    caller: piper_tts.PiperTts,
    kind: str,
    text: str,
    last_words: str,
) -> None:
    spoken = await compose(caller, kind, text, cache=None)
    heard = await hear(engines, redis, spoken, adaptive=True, silence_ms=SILENCE_MS, tail_s=TAIL_S)
    assert heard.verdicts  # the early transcripts were judged
    assert not heard.cut_off, heard.turns
    assert len(heard.turns) == 1 and last_words in heard.turns[0].lower()
