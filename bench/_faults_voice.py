"""Zero-cost speech engines whose audio says which sentence it is, and the gateway process.

The fault harness must tell, from the audio the phone received, which sentence it heard and
how much of it. So the engines speak in tones:

- `CodedTts` renders a sentence of the scripted answer (`SENTENCES[k]`) as `SENTENCE_S` of a
  sine at `sentence_hz(k)`, anything else (greeting, apology, hold phrase) at `OTHER_HZ`;
- the scripted caller's turn `n` is `CALLER_S` of a sine at `caller_hz(n)`, and `CodedStt`
  transcribes it back as "Caller turn n." — or "Caller turn n (fragment)." when it got less
  than 80 % of it (the start of the utterance was lost);
- `EnergyVad`: speech when a frame is loud, no model.

`decode` turns received 16 kHz audio into runs of (code, seconds). Run as
`python -m bench._faults_voice --port P`, this module is one media gateway process: the real
`media_gateway.app` with these engines, configured from `CALLCENTER_*` like `python -m
media_gateway`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
from collections.abc import AsyncIterator

import numpy as np

from bench._faults_stack import SENTENCES

RATE = 16_000
SENTENCE_S = 0.4
CALLER_S = 1.5
OTHER_HZ = 3_000.0
FRAME = 640  # 40 ms analysis windows: 25 Hz bins


# The caller's goodbye (`bench/soak.py --turns-per-call`): 1.8 kHz, above every sentence's tone.
GOODBYE_TURN = 0
GOODBYE_TEXT = "Caller turn 0, goodbye."


def sentence_hz(index: int) -> float:
    return 500.0 + 100.0 * index


def caller_hz(turn: int) -> float:
    return 1_800.0 + 100.0 * turn


def tone(hz: float, seconds: float, level: float = 0.3) -> bytes:
    t = np.arange(round(seconds * RATE)) / RATE
    return (np.sin(2 * math.pi * hz * t) * level * 32767).astype("<i2").tobytes()


def caller_turn(turn: int) -> bytes:
    return tone(caller_hz(turn), CALLER_S)


def _peaks(pcm: bytes) -> list[float]:
    """The dominant frequency of each `FRAME` (0 for a quiet one)."""
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32) / 32768
    out = []
    window = np.hanning(FRAME)
    for start in range(0, len(samples) - FRAME + 1, FRAME):
        frame = samples[start : start + FRAME]
        if float(np.sqrt(np.mean(frame**2))) < 0.02:
            out.append(0.0)
            continue
        spectrum = np.abs(np.fft.rfft(frame * window))
        out.append(float(np.argmax(spectrum)) * RATE / FRAME)
    return out


def code_of(hz: float) -> str:
    """'s<k>' for a sentence, 'c<n>' for a caller turn, 'other', or '' for silence."""
    if hz == 0.0:
        return ""
    if abs(hz - OTHER_HZ) < 50:
        return "other"
    if hz >= 1_750:
        return f"c{round((hz - 1_800.0) / 100.0)}"
    return f"s{round((hz - 500.0) / 100.0)}"


def decode(pcm: bytes) -> list[tuple[str, float, float]]:
    """Runs of one code in 16 kHz PCM: (code, start s, seconds)."""
    runs: list[tuple[str, float, float]] = []
    step = FRAME / RATE
    for i, hz in enumerate(_peaks(pcm)):
        code = code_of(hz)
        if runs and runs[-1][0] == code and abs(runs[-1][1] + runs[-1][2] - i * step) < 1e-6:
            runs[-1] = (code, runs[-1][1], runs[-1][2] + step)
        elif code:
            runs.append((code, i * step, step))
    return runs


class EnergyVad:
    sample_rate = RATE
    frame_samples = 320

    def probability(self, frame: bytes) -> float:
        samples = np.frombuffer(frame, dtype="<i2").astype(np.float32) / 32768
        return min(1.0, float(np.sqrt(np.mean(samples**2))) / 0.05) if len(samples) else 0.0

    def reset(self) -> None:
        pass


class CodedStt:
    sample_rate = RATE

    async def transcribe(self, pcm: bytes, *, language: str) -> object:
        from media_gateway.engines import Transcript

        codes = [code_of(hz) for hz in _peaks(pcm)]
        turns = [c for c in codes if c.startswith("c")]
        if not turns:
            return Transcript(text="", language=language, duration_s=len(pcm) / (2 * RATE))
        turn = max(set(turns), key=turns.count)
        heard_s = turns.count(turn) * FRAME / RATE
        fragment = " (fragment)" if heard_s < 0.8 * CALLER_S else ""
        text = f"Caller turn {turn[1:]}{fragment}."
        if turn == f"c{GOODBYE_TURN}" and not fragment:
            text = GOODBYE_TEXT
        return Transcript(text=text, language=language, duration_s=len(pcm) / (2 * RATE))


class CodedTts:
    sample_rate = RATE

    async def synthesize(
        self, text: str, *, voice: str | None = None, rate: float = 1.0
    ) -> AsyncIterator[bytes]:
        del voice, rate
        text = text.strip()
        if text in SENTENCES:
            yield tone(sentence_hz(SENTENCES.index(text)), SENTENCE_S)
        else:
            yield tone(OTHER_HZ, SENTENCE_S)


async def serve(port: int) -> None:
    from aiohttp import web
    from redis.asyncio import Redis

    from core.settings import get_settings
    from core.temporal import connect
    from media_gateway.app import create_app
    from media_gateway.engines import Engines
    from media_gateway.wiring import build_speech

    settings = get_settings()
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):  # the turn-trace test's collector
        from media_gateway.telemetry import configure_telemetry

        configure_telemetry(export_interval_s=1.0)
    client = await connect(settings.temporal)
    redis = Redis.from_url(settings.redis.url)
    engines = Engines(vad=EnergyVad, stt=CodedStt(), tts=CodedTts())  # type: ignore[arg-type]
    runner = web.AppRunner(create_app(client, build_speech(settings, redis, engines)))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    # The gateway's own decisions (a resumed stream, a dropped fragment) in its log file.
    from core import logs

    logs.setup(logging.WARNING)
    logging.getLogger("media_gateway").setLevel(logging.INFO)
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve(parser.parse_args().port))
