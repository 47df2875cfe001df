"""The offline engines on real speech: Piper speaks, Whisper hears it, Silero finds it.

Models load once for the module; every utterance is synthesized by Piper at test time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from providers.speech import SpeechToText, TextToSpeech, Vad, models
from providers.speech.audio import resample
from providers.speech.local_vad import SileroVad, silero_factory
from providers.speech.piper_tts import PiperTts
from providers.speech.whisper_stt import WhisperStt
from tests.speech.helpers import (
    ACCIDENT,
    GREETING,
    segments,
    speech_bounds,
    vad_probabilities,
    wer,
    words,
)


@pytest.fixture(scope="module")
def tts() -> PiperTts:
    return PiperTts(*models.piper_voice())


@pytest.fixture(scope="module")
def stt() -> Iterator[WhisperStt]:
    engine = WhisperStt(models.whisper_base_dir())
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def vad_factory() -> Callable[[], SileroVad]:
    return silero_factory()


async def speak(
    tts: TextToSpeech, text: str, *, rate: float = 1.0, voice: str | None = None
) -> bytes:
    return b"".join([chunk async for chunk in tts.synthesize(text, rate=rate, voice=voice)])


@pytest.fixture(scope="module")
async def accident_22k(tts: PiperTts) -> bytes:
    return await speak(tts, ACCIDENT)


@pytest.fixture(scope="module")
async def greeting_22k(tts: PiperTts) -> bytes:
    return await speak(tts, GREETING)


def test_engines_implement_the_protocols(
    tts: PiperTts, stt: WhisperStt, vad_factory: Callable[[], SileroVad]
) -> None:
    assert isinstance(tts, TextToSpeech) and tts.sample_rate == 22050
    assert isinstance(stt, SpeechToText) and stt.sample_rate == 16000
    vad = vad_factory()
    assert isinstance(vad, Vad) and (vad.sample_rate, vad.frame_samples) == (16000, 512)


async def test_whisper_transcribes_piper_speech_resampled_to_16k(
    stt: WhisperStt, accident_22k: bytes
) -> None:
    pcm = resample(accident_22k, 22050, 16000)
    transcript = await stt.transcribe(pcm, language="en-US")
    assert {"report", "car", "accident", "yesterday"} <= set(words(transcript.text))
    assert wer(ACCIDENT, transcript.text) <= 0.15, transcript.text
    assert transcript.language == "en-US"
    assert transcript.duration_s == pytest.approx(len(pcm) / 32000)
    assert transcript.confidence is not None and 0.5 < transcript.confidence <= 1.0


async def test_whisper_after_a_16k_24k_16k_round_trip(stt: WhisperStt, accident_22k: bytes) -> None:
    pcm16 = resample(accident_22k, 22050, 16000)
    back = resample(resample(pcm16, 16000, 24000), 24000, 16000)
    # ceil() at each step: an odd sample count comes back one sample longer.
    assert len(pcm16) <= len(back) <= len(pcm16) + 2
    transcript = await stt.transcribe(back, language="en-US")
    assert wer(ACCIDENT, transcript.text) <= 0.15, transcript.text


async def test_concurrent_transcriptions_keep_the_loop_free(
    stt: WhisperStt, accident_22k: bytes, greeting_22k: bytes
) -> None:
    # Two calls at once (the gateway's 24 kHz path for one of them); the loop keeps ticking.
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(0.01)
            ticks += 1

    tick_task = asyncio.create_task(ticker())
    started = time.perf_counter()
    first, second = await asyncio.gather(
        stt.transcribe(resample(accident_22k, 22050, 16000), language="en-US"),
        stt.transcribe(resample(resample(greeting_22k, 22050, 24000), 24000, 16000), language="en"),
    )
    elapsed = time.perf_counter() - started
    done.set()
    await tick_task
    assert wer(ACCIDENT, first.text) <= 0.15, first.text
    assert wer(GREETING, second.text) <= 0.15, second.text
    # A blocked loop would tick a couple of times at most; loose bound for a busy 2-core box.
    assert ticks >= elapsed / 0.01 * 0.1


async def test_whisper_edge_cases(stt: WhisperStt) -> None:
    assert (await stt.transcribe(bytes(1000), language="en-US")).text == ""
    with pytest.raises(ValueError, match="language"):
        await stt.transcribe(bytes(32000), language="xx-XX")


def test_vad_speech_high_silence_and_noise_low(
    vad_factory: Callable[[], SileroVad], accident_22k: bytes
) -> None:
    vad = vad_factory()
    pcm = resample(accident_22k, 22050, 16000)
    start, end = speech_bounds(pcm, 16000)
    probs = vad_probabilities(vad, pcm)
    frame_s = 512 / 16000
    inside = [p for i, p in enumerate(probs) if start <= i * frame_s and (i + 1) * frame_s <= end]
    assert np.mean(inside) > 0.7
    assert np.mean(np.array(inside) > 0.5) > 0.8

    assert max(vad_probabilities(vad, bytes(32000 * 2))) < 0.1
    rng = np.random.default_rng(7)
    for level in (0.003, 0.02):  # about -50 and -34 dBFS of white noise
        noise = (rng.standard_normal(32000) * level * 32767).astype("<i2").tobytes()
        probs = vad_probabilities(vad, noise)
        assert max(probs) < 0.3 and np.mean(probs) < 0.1


def test_vad_finds_an_utterance_between_silences(
    vad_factory: Callable[[], SileroVad], accident_22k: bytes
) -> None:
    utterance = np.frombuffer(resample(accident_22k, 22050, 16000), dtype="<i2")
    lead, tail = np.zeros(16000), np.zeros(16000)
    signal = np.concatenate([lead, utterance, tail])
    # A faint line noise floor (-60 dBFS) so the "silence" is not digital zero.
    signal += np.random.default_rng(3).standard_normal(signal.size) * 33
    pcm = np.clip(signal, -32768, 32767).astype("<i2").tobytes()
    speech_start, speech_end = speech_bounds(utterance.tobytes(), 16000)
    true_start, true_end = 1.0 + speech_start, 1.0 + speech_end

    vad = vad_factory()
    found = segments(vad_probabilities(vad, pcm), 512 / 16000)
    assert len(found) == 1, found
    (start, end) = found[0]
    assert abs(start - true_start) <= 0.15, (start, true_start)
    assert abs(end - true_end) <= 0.15, (end, true_end)


def test_vad_instances_keep_separate_state(
    vad_factory: Callable[[], SileroVad], accident_22k: bytes
) -> None:
    pcm = resample(accident_22k, 22050, 16000)
    a, b = vad_factory(), vad_factory()
    alone = vad_probabilities(a, pcm)
    a.reset()
    interleaved_a, interleaved_b = [], []
    silence = bytes(1024)
    for i in range(len(alone)):
        interleaved_a.append(a.probability(pcm[i * 1024 : (i + 1) * 1024]))
        interleaved_b.append(b.probability(silence))
    assert interleaved_a == pytest.approx(alone, abs=1e-6)
    assert max(interleaved_b) < 0.1
    with pytest.raises(ValueError):
        a.probability(bytes(1000))


async def test_tts_streams_the_first_sentence_before_the_rest(tts: PiperTts) -> None:
    text = f"{GREETING} I can help you with that. Please stay on the line."
    started = time.perf_counter()
    arrivals: list[tuple[float, int]] = []
    async for chunk in tts.synthesize(text):
        arrivals.append((time.perf_counter() - started, len(chunk)))
    assert len(arrivals) >= 4  # one chunk per sentence
    assert all(size > 0 and size % 2 == 0 for _, size in arrivals)
    # The first sentence was out while the later ones were still being rendered.
    assert arrivals[0][0] < arrivals[-1][0]
    total_s = sum(size for _, size in arrivals) / 2 / tts.sample_rate
    assert arrivals[0][1] / 2 / tts.sample_rate < total_s / 2


async def test_tts_rate_changes_the_duration(tts: PiperTts) -> None:
    fast = await speak(tts, ACCIDENT, rate=1.25)
    slow = await speak(tts, ACCIDENT, rate=0.8)
    assert len(fast) < 0.8 * len(slow)


async def test_tts_stops_early_and_ignores_blank_text(tts: PiperTts) -> None:
    stream = tts.synthesize(f"{GREETING} {ACCIDENT}")
    first = await anext(stream)
    await stream.aclose()
    assert len(first) > 0
    assert [c async for c in tts.synthesize("   ")] == []
    # A voice name this model does not have falls back to its own voice.
    assert len(await speak(tts, "Hello.", voice="en-US-JennyNeural")) > 0


async def test_piper_without_noise_renders_a_text_the_same_every_time(tts: PiperTts) -> None:
    # VITS samples noise per rendering: the voice's own settings vary the audio a little, and
    # a test's caller voice without that noise is reproducible.
    steady = PiperTts(*models.piper_voice(), noise_scale=0.0, noise_w_scale=0.0)
    assert await speak(steady, "seventy-eight.") == await speak(steady, "seventy-eight.")
    renderings = {await speak(tts, "seventy-eight.") for _ in range(3)}
    assert len(renderings) > 1
