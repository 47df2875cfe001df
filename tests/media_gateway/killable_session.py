"""A `CallSession` in its own OS process, for a test to SIGKILL mid-sentence.

`python -m tests.media_gateway.killable_session CALL_ID REDIS_URL`: prints "ready" once the
session started, then every message it sends to ACS as one line on stdout (the bot's audio,
with `LabelTts`: each sentence a constant level its number tells). The caller is silent.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import numpy as np
from redis.asyncio import Redis

from media_gateway.engines import Engines
from media_gateway.session import CallSession
from tests.media_gateway.fakes import EnergyVad, RecordingControl, ScriptedStt

RATE = 16_000
SENTENCE_S = 0.4  # 20 frames of 20 ms
LEVEL = 1_000  # sentence "s3 ..." plays at 3 * LEVEL


class LabelTts:
    """Sentence "s<n> ..." → `SENTENCE_S` of the constant sample n * `LEVEL`, 100 ms chunks;
    any other text (a gateway phrase) → the constant -LEVEL."""

    sample_rate = RATE

    async def synthesize(
        self, text: str, *, voice: str | None = None, rate: float = 1.0
    ) -> AsyncIterator[bytes]:
        del voice, rate
        head = text.split()[0]
        level = int(head[1:]) * LEVEL if head[0] == "s" and head[1:].isdigit() else -LEVEL
        pcm = np.full(round(SENTENCE_S * RATE), level, dtype="<i2").tobytes()
        step = RATE // 10 * 2
        for i in range(0, len(pcm), step):
            await asyncio.sleep(0)
            yield pcm[i : i + step]


def label(pcm: bytes) -> int:
    """The sentence a frame belongs to (0: padding; -1: a gateway phrase)."""
    samples = np.frombuffer(pcm, dtype="<i2")
    return round(float(np.median(samples)) / LEVEL)


def engines() -> Engines:
    return Engines(vad=EnergyVad, stt=ScriptedStt([]), tts=LabelTts())


async def main(call_id: str, redis_url: str) -> None:
    redis = Redis.from_url(redis_url)

    async def send(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    session = CallSession(
        call_id,
        control=RecordingControl(),
        engines=engines(),
        redis=redis,
        send=send,
        sample_rate=RATE,
    )
    await session.start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    silence = bytes(RATE // 50 * 2)
    while True:  # the caller's line: silence, in real time
        await session.feed(silence)
        await asyncio.sleep(0.02)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
