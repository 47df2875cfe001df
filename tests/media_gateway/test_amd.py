"""The answering-machine detector on synthesised answers (Piper speech, pure tones, silence),
and how its watch keeps the judged greeting from turns. The full 48-case matrix is
`bench/amd.py`; the end-to-end path is tests/telephony/test_answering_machine.py."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from domain.call import MachineDetection
from media_gateway.amd import AmdConfig, MachineDetector, MachineWatch
from media_gateway.engines import resample
from tests.support.amd_cases import RATE, VOICES, Case, human_case, machine_case, silence, tone


def feed(detector: MachineDetector, pcm: bytes, frame_bytes: int = 640) -> None:
    """In 20 ms frames (at 16 kHz), as the gateway gets them; a ragged last frame too."""
    for i in range(0, len(pcm), frame_bytes):
        detector.feed(pcm[i : i + frame_bytes])


def pcm_of(samples: Any) -> bytes:
    out: bytes = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    return out


@pytest.fixture(scope="module")
def cases() -> dict[str, Case]:
    async def render() -> dict[str, Case]:
        return {
            "hello": await human_case(0, VOICES[0]),  # "Hello?"
            "long_human": await human_case(2, VOICES[2]),  # "Hello, Jane speaking, who is this?"
            "machine": await machine_case(3, VOICES[1]),  # long greeting, 1400 Hz beep
            "short_machine": await machine_case(4, VOICES[0]),  # "Jane here. Leave a message."
        }

    return asyncio.run(render())


def test_a_short_answer_then_silence_is_a_person(cases: dict[str, Case]) -> None:
    for name in ("hello", "long_human"):
        case = cases[name]
        detector = MachineDetector(RATE)
        feed(detector, case.pcm)
        assert detector.decision is not None and detector.decision.kind == "human", name
        # Decided within the silence after the answer, a second or so after it ended.
        ms = detector.decision.after_ms
        assert case.speech_end_s * 1000 < ms < case.speech_end_s * 1000 + 1_500, (name, ms)
        assert detector.done


def test_a_long_greeting_is_a_machine_before_it_ends(cases: dict[str, Case]) -> None:
    case = cases["machine"]
    detector = MachineDetector(RATE)
    feed(detector, case.pcm)
    assert detector.decision is not None and detector.decision.kind == "machine"
    assert detector.decision.after_ms < case.speech_end_s * 1000  # no need to hear it all
    # The message may start once the beep has ended, not before.
    assert case.beep_end_s is not None and detector.greeting_end is not None
    start_s = detector.greeting_end.after_ms / 1000
    assert case.beep_end_s <= start_s + 0.03 <= case.beep_end_s + 0.2


def test_a_short_greeting_is_told_by_its_beep(cases: dict[str, Case]) -> None:
    case = cases["short_machine"]
    detector = MachineDetector(RATE)
    feed(detector, case.pcm)
    assert detector.decision is not None and detector.decision.kind == "machine"
    assert detector.decision.reason.startswith("beep at 2000 Hz")


@pytest.mark.parametrize("hz", [440, 850, 1000, 1400, 2000])
@pytest.mark.parametrize("rate", [8_000, 16_000, 24_000])
def test_beeps_are_found_at_any_pitch_and_rate(hz: int, rate: int) -> None:
    audio = np.concatenate([silence(0.5), tone(hz, 0.3), silence(0.5)])
    detector = MachineDetector(rate)
    feed(detector, resample(pcm_of(audio), RATE, rate), rate * 2 // 50)
    assert detector.decision is not None and detector.decision.kind == "machine"
    assert (
        f"{hz} Hz" in detector.decision.reason
        or abs(int(detector.decision.reason.split()[2]) - hz) <= 30
    )
    # ~120 ms into the tone (beep_min_ms), not at its start and not after it.
    assert 600 <= detector.decision.after_ms <= 700


def test_a_click_or_a_short_blip_is_no_beep() -> None:
    audio = np.concatenate([silence(0.3), tone(1000, 0.06), silence(6.0)])
    detector = MachineDetector(RATE)
    feed(detector, pcm_of(audio))
    assert detector.decision is not None and detector.decision.kind == "unknown"
    assert detector.decision.after_ms == AmdConfig().no_speech_ms


def test_speech_is_not_mistaken_for_a_tone(cases: dict[str, Case]) -> None:
    detector = MachineDetector(RATE)
    feed(detector, cases["long_human"].pcm)
    assert detector.decision is not None and "beep" not in detector.decision.reason


def test_a_transcript_cue_decides_a_machine(cases: dict[str, Case]) -> None:
    detector = MachineDetector(RATE)
    feed(detector, cases["hello"].pcm[:RATE])  # first second: undecided yet
    assert detector.decision is None
    assert detector.hear("Hello, this is Jane") == []
    decided = detector.hear("You've reached Jane, please leave a message after the tone.")
    assert [d.kind for d in decided] == ["machine"]


async def test_the_watch_keeps_the_judged_answer_from_turns(cases: dict[str, Case]) -> None:
    sent: list[MachineDetection] = []
    tasks: list[asyncio.Task[None]] = []
    now = [0.0]

    async def signal(detection: MachineDetection) -> None:
        sent.append(detection)

    def spawn(coro: Any) -> None:
        tasks.append(asyncio.ensure_future(coro))

    watch = MachineWatch(MachineDetector(RATE), signal, spawn, clock=lambda: now[0])
    # "Hello?" while undecided: not a turn.
    assert watch.holds("Hello?", ended_at=0.5)
    now[0] = 2.0
    watch.feed(cases["hello"].pcm)
    await asyncio.gather(*tasks)
    assert [d.kind for d in sent] == ["human"] and watch.done
    assert watch.holds("Hello?", ended_at=0.9)  # said before the decision: the greeting answers it
    assert not watch.holds("My car was stolen.", ended_at=5.0)  # after it: a turn
