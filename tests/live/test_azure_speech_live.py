"""Azure Speech for real: synthesis, then recognition of what was synthesized.

Needs AZURE_SPEECH_KEY and AZURE_SPEECH_REGION (a Speech or AI Services resource); skipped
without them, since the SDK's protocol cannot be served offline.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from providers.speech.audio import frames, resample
from providers.speech.azure_stt import AzureStt, SpeechError
from providers.speech.azure_tts import AzureTts
from tests.speech.helpers import ACCIDENT, wer

KEY = os.environ.get("AZURE_SPEECH_KEY", "")
REGION = os.environ.get("AZURE_SPEECH_REGION", "")

pytestmark = [
    pytest.mark.skipif(
        not (KEY and REGION), reason="AZURE_SPEECH_KEY and AZURE_SPEECH_REGION are not set"
    ),
    pytest.mark.timeout(120),
]

FRENCH = "Bonjour, je voudrais déclarer un sinistre pour ma voiture."


async def speak(
    tts: AzureTts, text: str, *, voice: str | None = None, rate: float = 1.0, style: str = "none"
) -> tuple[bytes, int, float]:
    """All the audio, the number of chunks and the seconds to the first chunk."""
    start = time.monotonic()
    first = 0.0
    chunks: list[bytes] = []
    async for chunk in tts.synthesize(text, voice=voice, rate=rate, style=style):
        if not chunks:
            first = time.monotonic() - start
        chunks.append(chunk)
    return b"".join(chunks), len(chunks), first


async def test_round_trip_in_english() -> None:
    tts = AzureTts(KEY, REGION, sample_rate=16000)
    pcm, count, first = await speak(tts, ACCIDENT)
    seconds = len(pcm) / 2 / 16000
    assert 2.0 < seconds < 10.0 and len(pcm) % 2 == 0
    assert count > 1 and first < seconds  # streamed: audio starts before it is all rendered

    transcript = await AzureStt(KEY, REGION).transcribe(pcm, language="en-US")
    assert wer(ACCIDENT, transcript.text) <= 0.2, transcript.text
    assert transcript.language == "en-US"
    assert transcript.duration_s == pytest.approx(seconds)
    assert transcript.confidence is not None and 0.5 < transcript.confidence <= 1.0


async def test_round_trip_in_french_with_a_style_and_a_faster_rate() -> None:
    tts = AzureTts(KEY, REGION, sample_rate=24000)
    voice = "fr-FR-VivienneMultilingualNeural"
    normal, _, _ = await speak(tts, FRENCH, voice=voice)
    faster, _, _ = await speak(tts, FRENCH, voice=voice, rate=1.5, style="cheerful")
    assert len(faster) < 0.85 * len(normal)

    stt = AzureStt(KEY, REGION)
    transcript = await stt.transcribe(resample(normal, 24000, 16000), language="fr-FR")
    assert wer(FRENCH, transcript.text) <= 0.25, transcript.text


async def test_streaming_recognition_gives_partials_while_audio_flows() -> None:
    pcm, _, _ = await speak(AzureTts(KEY, REGION), ACCIDENT)
    stt = AzureStt(KEY, REGION)
    partials: list[str] = []
    async with stt.stream("en-US") as stream:

        async def read() -> None:
            async for text in stream.partials():
                partials.append(text)

        reader = asyncio.create_task(read())
        for frame in frames(pcm + b"\x00\x00" * 8000, 640):  # 20 ms frames, at real time
            stream.push(frame)
            await asyncio.sleep(0.02)
        transcript = await stream.final()
        await asyncio.wait_for(reader, 5)
    assert partials, "no partial result while the caller was speaking"
    assert wer(ACCIDENT, transcript.text) <= 0.2, transcript.text


async def test_wrong_key_is_an_authentication_error() -> None:
    with pytest.raises(SpeechError) as caught:
        await speak(AzureTts("0" * 32, REGION), "Hello.")
    assert caught.value.code == "AuthenticationFailure" and not caught.value.retryable
