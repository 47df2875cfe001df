"""`CallSession` driven by a real-time caller timeline, fake engines and a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis

from domain.contracts import SentenceEvent
from media_gateway.engines import Engines, SpeechToText
from media_gateway.session import CallSession, SessionConfig
from providers.sentences.redis_stream import RedisSentenceStream
from tests.media_gateway.fakes import (
    EnergyVad,
    Phone,
    RecordingControl,
    ScriptedStt,
    ToneTts,
    start_session,
    timeline,
)

RATES = [16_000, 24_000]


@asynccontextmanager
async def open_session(
    redis: Redis,
    phone: Phone,
    stt: SpeechToText,
    control: RecordingControl,
    config: SessionConfig | None = None,
) -> AsyncIterator[CallSession]:
    engines = Engines(vad=EnergyVad, stt=stt, tts=ToneTts(), voices={"fr-FR": "fr_FR-siwis-medium"})
    async with start_session(redis, phone, control, engines, config) as session:
        yield session


async def say(redis: Redis, session: CallSession, turn_id: int, *texts: str) -> None:
    stream = RedisSentenceStream(redis)
    for text in texts:
        event = SentenceEvent(turn_id=turn_id, kind="sentence", text=text)
        await stream.append(session.call_id, event)


async def wait_for(check: Callable[[], bool], timeout: float = 3.0) -> None:
    for _ in range(round(timeout / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"condition not reached: {check.__code__.co_consts}")


WORDS = " ".join(f"w{i}" for i in range(20))  # 20 words: 4 s of bot audio


@pytest.mark.parametrize("rate", RATES)
async def test_an_utterance_is_one_turn_after_the_silence_timeout(redis: Redis, rate: int) -> None:
    control = RecordingControl(last_turn_id=4)
    phone = Phone(rate)
    stt = ScriptedStt(["I had a car accident."])
    async with open_session(redis, phone, stt, control) as session:
        audio = timeline(rate, ("silence", 0.3), ("speech", 0.8))
        await phone.run(session.feed, audio, tail_s=0.9)
        speech_end = phone.speech_onsets[0] + 0.8
        await wait_for(lambda: bool(control.turns))
    (at, turn), *others = control.turns
    assert not others
    assert turn.text == "I had a car accident." and turn.turn_id == 5
    assert turn.channel == "voice" and turn.speech_ended_at is not None
    assert 0.45 <= at - speech_end <= 0.65  # the 500 ms silence timeout, not more
    # The utterance went to STT with its ~200 ms pre-roll and ~200 ms of trailing silence.
    assert 1.1 <= stt.durations[0] <= 1.3


async def test_the_transcription_starts_when_the_caller_pauses(redis: Redis) -> None:
    control = RecordingControl()
    phone = Phone(16_000)
    stt = ScriptedStt(["I had a car accident."], delay_s=0.25)  # a slow recogniser
    async with open_session(redis, phone, stt, control) as session:
        await phone.run(session.feed, timeline(16_000, ("speech", 0.8)), tail_s=0.9)
        speech_end = phone.speech_onsets[0] + 0.8
        await wait_for(lambda: bool(control.turns))
    (at, turn), *others = control.turns
    assert not others and turn.text == "I had a car accident."
    (started,) = stt.started  # one transcription, begun ~200 ms into the silence
    assert 0.15 <= started - speech_end <= 0.35
    # Its 250 ms passed within the 500 ms silence timeout, not after it.
    assert at - speech_end <= 0.65


@pytest.mark.parametrize("early_stt", [True, False])
async def test_a_pause_within_the_turn_transcribes_the_whole_utterance(
    redis: Redis, early_stt: bool
) -> None:
    control = RecordingControl()
    phone = Phone(16_000)
    stt = ScriptedStt([None, None], delay_s=0.1)  # the text tells the audio's length
    config = SessionConfig(early_stt=early_stt)
    async with open_session(redis, phone, stt, control, config) as session:
        audio = timeline(16_000, ("speech", 0.6), ("silence", 0.35), ("speech", 0.6))
        await phone.run(session.feed, audio, tail_s=0.9)
        await wait_for(lambda: bool(control.turns))
        await asyncio.sleep(0.2)
    # One turn, of the whole utterance: 1.55 s + 200 ms of silence, not the 0.8 s heard
    # before the pause (whose early transcription is dropped).
    assert [t.text for _, t in control.turns] == ["1.8 s"]
    assert len(stt.started) == (2 if early_stt else 1)


async def test_a_number_being_dictated_is_held_and_merged(redis: Redis) -> None:
    control = RecordingControl()
    phone = Phone(16_000)
    stt = ScriptedStt(["My number is 06 12.", "34 56 78.", "Thanks."])
    async with open_session(redis, phone, stt, control) as session:
        audio = timeline(
            16_000,
            ("speech", 0.6),
            ("silence", 1.0),  # past the 500 ms timeout, within the 1.5 s hold
            ("speech", 0.6),
            ("silence", 1.0),
            ("speech", 0.4),
        )
        await phone.run(session.feed, audio, tail_s=0.8)
        await wait_for(lambda: len(control.turns) == 2, timeout=1.5)
    assert [t.text for _, t in control.turns] == ["My number is 06 12 34 56 78.", "Thanks."]
    assert [t.turn_id for _, t in control.turns] == [1, 2]


async def test_a_held_number_is_sent_when_the_caller_stays_silent(redis: Redis) -> None:
    control = RecordingControl()
    phone = Phone(16_000)
    async with open_session(redis, phone, ScriptedStt(["It's 06 12"]), control) as session:
        await phone.run(session.feed, timeline(16_000, ("speech", 0.5)), tail_s=0.6)
        end = phone.speech_onsets[0] + 0.5
        await wait_for(lambda: bool(control.turns), timeout=3)
    at, turn = control.turns[0]
    assert turn.text == "It's 06 12"
    assert 1.9 <= at - end <= 2.3  # 500 ms silence + 1.5 s hold


@pytest.mark.parametrize("rate", RATES)
async def test_bot_sentences_are_paced_in_real_time(redis: Redis, rate: int) -> None:
    control = RecordingControl(lang="fr-FR")
    phone = Phone(rate)
    async with open_session(redis, phone, ScriptedStt([]), control) as session:
        await say(redis, session, 0, "Bonjour, je suis Amélie.", "Comment allez-vous ?")
        await phone.run(session.feed, b"", tail_s=1.8)
    frames = phone.audio_frames()
    assert len(frames) == round((4 + 3) * 0.2 / 0.02)  # 7 words of 200 ms each
    assert all(len(pcm) == rate // 50 * 2 for _, pcm in frames)
    start = frames[0][0]
    aheads = [(i + 1) * 0.02 - (at - start) for i, (at, _) in enumerate(frames)]
    for i, ahead in enumerate(aheads):
        # Never early by more than the 60 ms the pacer keeps queued, even after a stall.
        assert ahead <= 0.06 + 0.005, f"frame {i} sent {ahead * 1000:.0f} ms ahead"
    # Late frames: a starved CI box can stall the event loop for a frame or two (71 ms was
    # seen), which a caller hears as a glitch, not as drift; the pacer must then catch up.
    late = [i for i, ahead in enumerate(aheads) if ahead < -0.03]
    assert len(late) <= len(frames) // 10, f"frames {late} late by more than 30 ms"
    tail = sorted(aheads[-20:])
    assert tail[len(tail) // 2] >= -0.03, "the pacer fell behind real time and stayed there"
    assert session.speaker is not None and session.speaker.heard_text().startswith("Bonjour")


@pytest.mark.parametrize("rate", RATES)
async def test_barge_in_stops_the_audio_and_tells_what_was_heard(redis: Redis, rate: int) -> None:
    control = RecordingControl(last_turn_id=3)
    phone = Phone(rate)
    stt = ScriptedStt(["Wait, that's not my address."])
    async with open_session(redis, phone, stt, control) as session:
        await say(redis, session, 3, "Hello there.", WORDS)
        audio = timeline(rate, ("silence", 1.4), ("speech", 1.0))
        await phone.run(session.feed, audio, tail_s=0.8)
        await wait_for(lambda: bool(control.turns))
    (stop_at,) = phone.stops()
    assert stop_at - phone.speech_onsets[0] <= 0.25 + 0.05
    (_, event), *_ = control.barge_ins
    assert event.turn_id == 3
    # 1.4 s + 250 ms of audio sent (+ up to 60 ms ahead): the first sentence and ~6 words.
    assert event.heard_text.startswith("Hello there. w0 w1 w2 w3")
    assert not event.heard_text.endswith(" w9")
    sent_after_stop = [at for at, _ in phone.audio_frames() if at > stop_at]
    assert not sent_after_stop  # the rest of the interrupted answer is dropped
    assert control.turns[0][1].text == "Wait, that's not my address."
    assert control.turns[0][1].turn_id == 4
    assert control.barge_ins[0][0] <= control.turns[0][0]  # signal before the new turn


async def test_a_backchannel_does_not_interrupt_and_speech_resumes(redis: Redis) -> None:
    control = RecordingControl()
    phone = Phone(16_000)
    async with open_session(redis, phone, ScriptedStt(["Mhm."]), control) as session:
        await say(redis, session, 0, "one two three four five six seven eight nine ten")
        audio = timeline(16_000, ("silence", 0.6), ("speech", 0.4), ("silence", 0.3))
        await phone.run(session.feed, audio, tail_s=2.5)
    assert len(phone.stops()) == 1  # 400 ms of speech: stopped at the cutoff...
    assert not control.barge_ins and not control.turns  # ...but it was only "mhm"
    stop_at = phone.stops()[0]
    resumed = [at for at, _ in phone.audio_frames() if at > stop_at]
    assert resumed and resumed[0] - stop_at < 1.2  # silence timeout + STT, not silence
    assert session.speaker is not None
    assert session.speaker.heard_text() == "one two three four five six seven eight nine ten"


async def test_speech_too_long_for_a_backchannel_interrupts_even_before_the_cutoff(
    redis: Redis,
) -> None:
    control = RecordingControl()
    phone = Phone(16_000)
    stt = ScriptedStt(["No, that is wrong.", "Thanks."])
    async with open_session(redis, phone, stt, control) as session:
        # A cutoff set above the backchannel limit: the length decides first.
        session.flags = session.flags.model_copy(update={"vad_cutoff_timeout_ms": 900})
        await say(redis, session, 0, WORDS)
        audio = timeline(16_000, ("silence", 0.5), ("speech", 1.0))
        await phone.run(session.feed, audio, tail_s=0.8)
        await wait_for(lambda: bool(control.turns))
        (stop_at,) = phone.stops()
        assert 0.55 <= stop_at - phone.speech_onsets[0] <= 0.7  # at 600 ms of speech
        assert control.barge_ins and control.barge_ins[0][1].turn_id == 0
        # The speaker is alive: the next answer plays.
        await say(redis, session, 1, "one two three")
        await phone.run(session.feed, b"", tail_s=1.0)
    assert [at for at, _ in phone.audio_frames() if at > stop_at + 0.5]


async def test_a_short_first_word_then_a_pause_stops_the_bot_at_a_long_cutoff(
    redis: Redis,
) -> None:
    control = RecordingControl()
    phone = Phone(16_000)
    # The pause is transcribed early ("Wait,"), then the whole utterance when it ends.
    stt = ScriptedStt(["Wait,", "Wait, that is not right."])
    async with open_session(redis, phone, stt, control) as session:
        session.flags = session.flags.model_copy(update={"vad_cutoff_timeout_ms": 400})
        await say(redis, session, 0, WORDS)
        # "Wait," (200 ms), a pause, then the rest: the cutoff runs through the pause, and
        # 200 ms of voice is enough (more than a cough), however long the cutoff.
        audio = timeline(
            16_000, ("silence", 0.5), ("speech", 0.2), ("silence", 0.3), ("speech", 0.8)
        )
        await phone.run(session.feed, audio, tail_s=0.8)
        await wait_for(lambda: bool(control.turns))
    (stop_at,) = phone.stops()
    assert 0.35 <= stop_at - phone.speech_onsets[0] <= 0.45  # in the pause, at the cutoff
    assert [t.text for _, t in control.turns] == ["Wait, that is not right."]


async def test_a_short_noise_does_not_even_stop_the_audio(redis: Redis) -> None:
    control = RecordingControl()
    phone = Phone(16_000)
    async with open_session(redis, phone, ScriptedStt([""]), control) as session:
        await say(redis, session, 0, "one two three four five six seven eight")
        audio = timeline(16_000, ("silence", 0.5), ("speech", 0.12))  # a cough
        await phone.run(session.feed, audio, tail_s=1.5)
    assert not phone.stops() and not control.barge_ins and not control.turns
    assert len(phone.audio_frames()) == 80


@pytest.mark.parametrize("guard", [True, False])
async def test_the_bots_own_echo_does_not_barge_in(redis: Redis, guard: bool) -> None:
    control = RecordingControl()
    phone = Phone(16_000, echo_gain=0.3, echo_delay_s=0.12)
    config = SessionConfig(echo_guard=guard)
    async with open_session(redis, phone, ScriptedStt(["w0 w1 w2"]), control, config) as session:
        await say(redis, session, 0, WORDS)
        await phone.run(session.feed, b"", tail_s=2.0)
        await asyncio.sleep(0.1)
    if guard:
        assert not phone.stops() and not control.barge_ins and not control.turns
        assert session.listener.echo_frames > 50  # the echo was there, and gated
    else:  # the measurement: the same echo without the guard is taken for the caller
        assert phone.stops()


async def test_caller_speech_over_the_echo_still_barges_in(redis: Redis) -> None:
    control = RecordingControl()
    phone = Phone(24_000, echo_gain=0.3, echo_delay_s=0.12)
    async with open_session(redis, phone, ScriptedStt(["Stop please."]), control) as session:
        await say(redis, session, 0, WORDS)
        audio = timeline(24_000, ("silence", 1.0), ("speech", 0.8))
        await phone.run(session.feed, audio, tail_s=0.8)
        await wait_for(lambda: bool(control.turns))
    assert len(phone.stops()) == 1
    assert phone.stops()[0] - phone.speech_onsets[0] <= 0.25 + 0.05
    assert control.barge_ins[0][1].turn_id == 0
    assert control.turns[0][1].text == "Stop please."


async def test_keypad_presses_are_one_turn(redis: Redis) -> None:
    control = RecordingControl(last_turn_id=1)
    phone = Phone(16_000)
    config = SessionConfig(dtmf_gather_ms=200)
    async with open_session(redis, phone, ScriptedStt([]), control, config) as session:
        for key in "06":
            session.dtmf(key)
        await wait_for(lambda: bool(control.turns))
    assert control.turns[0][1].text == "(keypad) 06" and control.turns[0][1].turn_id == 2


async def test_a_silent_caller_is_reported_once_per_timeout(redis: Redis) -> None:
    control = RecordingControl()
    phone = Phone(16_000)
    async with open_session(redis, phone, ScriptedStt([]), control) as session:
        session.flags = session.flags.model_copy(update={"phone_silence_timeout_sec": 1})
        started = asyncio.get_running_loop().time()
        await phone.run(session.feed, bytes(int(16_000 * 2 * 2.3)), tail_s=0)  # 2.3 s of silence
        await wait_for(lambda: len(control.silences) >= 2, timeout=2)
    gaps = [t - started for t in control.silences]
    assert 0.9 <= gaps[0] <= 1.6 and 1.9 <= gaps[1] <= 2.8  # once per second of silence
    assert control.turns == []
