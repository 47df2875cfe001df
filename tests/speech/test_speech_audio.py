"""PCM helpers: resampling keeps frequency and length, streams without seams, anti-aliases."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from providers.speech.audio import Resampler, frames, read_wav, resample, rms, wav_bytes

PAIRS = [(16000, 24000), (24000, 16000), (22050, 16000), (22050, 24000), (16000, 8000)]


def tone(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 0.3) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (np.sin(2 * np.pi * freq * t) * amplitude * 32767).astype("<i2").tobytes()


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


@pytest.mark.parametrize(("src", "dst"), PAIRS)
def test_resample_keeps_tone_frequency_level_and_length(src: int, dst: int) -> None:
    pcm = tone(1000, src, seconds=1.3)
    out = resample(pcm, src, dst)
    n_in = len(pcm) // 2
    assert len(out) // 2 == math.floor(n_in * dst / src + 0.5)
    y = samples(out)
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    peak = np.fft.rfftfreq(y.size, 1 / dst)[np.argmax(spectrum)]
    assert abs(peak - 1000) <= dst / y.size + 1
    # Zero-phase: the output is the same sine sampled at the new rate, to within a few LSB.
    t = np.arange(y.size) / dst
    ideal = np.sin(2 * np.pi * 1000 * t) * 0.3 * 32767
    assert np.max(np.abs(y - ideal)[200:-200]) < 4
    assert rms(out) == pytest.approx(rms(pcm), rel=0.01)


def test_round_trip_16k_24k_16k_is_transparent() -> None:
    mix = samples(tone(440, 16000, amplitude=0.2)) + samples(tone(3000, 16000, amplitude=0.2))
    pcm = mix.astype("<i2").tobytes()
    back = resample(resample(pcm, 16000, 24000), 24000, 16000)
    assert len(back) == len(pcm)
    assert np.max(np.abs(samples(back) - samples(pcm))[100:-100]) < 4


def test_downsampling_removes_what_the_new_rate_cannot_hold() -> None:
    # 10 kHz is above the 8 kHz Nyquist of 16 kHz: without the low-pass it would alias to 6 kHz.
    out = samples(resample(tone(10000, 24000), 24000, 16000))
    # The interior only: the tone's abrupt start and end are broadband clicks.
    interior = out[200:-200].astype("<i2").tobytes()
    assert rms(interior) < 0.001 * rms(tone(10000, 24000))


@pytest.mark.parametrize("chunk_bytes", [2, 640, 882, 4096])
def test_streaming_resampler_matches_one_shot(chunk_bytes: int) -> None:
    pcm = tone(1000, 22050, seconds=0.5) + tone(2500, 22050, seconds=0.5)
    resampler = Resampler(22050, 16000)
    streamed = b"".join(
        resampler.process(pcm[i : i + chunk_bytes]) for i in range(0, len(pcm), chunk_bytes)
    )
    streamed += resampler.flush()
    assert streamed == resample(pcm, 22050, 16000)


@pytest.mark.parametrize("n", [1, 2, 3, 100, 1001, 12345])
def test_length_is_the_rounded_duration_at_the_new_rate(n: int) -> None:
    pcm = tone(1000, 22050)[: 2 * n]
    for src, dst in [(22050, 16000), (16000, 24000), (24000, 16000)]:
        assert len(resample(pcm, src, dst)) // 2 == math.floor(n * dst / src + 0.5)


def test_rates_outside_speech_and_telephony_are_refused() -> None:
    for rate in (0, -16000, 4000, 999_983):
        with pytest.raises(ValueError, match="sample rate"):
            Resampler(rate, 16000)
        with pytest.raises(ValueError, match="sample rate"):
            resample(b"\x00\x00", 16000, rate)


def test_same_rate_and_empty_input() -> None:
    pcm = tone(1000, 16000, seconds=0.1)
    assert resample(pcm, 16000, 16000) == pcm
    assert resample(b"", 24000, 16000) == b""
    with pytest.raises(ValueError):
        resample(b"\x00", 24000, 16000)


def test_rms_frames_and_wav(tmp_path: Path) -> None:
    assert rms(b"") == 0.0
    assert rms(bytes(640)) == 0.0
    assert rms(tone(1000, 16000, amplitude=1.0)) == pytest.approx(1 / math.sqrt(2), rel=0.01)

    pcm = bytes(range(250)) * 4  # 1000 bytes
    assert [len(f) for f in frames(pcm, 320)] == [320, 320, 320]
    padded = frames(pcm, 320, pad=True)
    assert [len(f) for f in padded] == [320] * 4
    assert padded[-1] == pcm[960:] + bytes(280)

    path = tmp_path / "tone.wav"
    path.write_bytes(wav_bytes(tone(1000, 22050), 22050))
    assert read_wav(path) == (tone(1000, 22050), 22050)
