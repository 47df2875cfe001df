"""Playwright driving Debian's Chromium (never a browser download) with a WAV file as microphone.

Chromium's fake capture device plays `--use-file-for-fake-audio-capture` from its start each
time a page opens the microphone; with the `%noloop` suffix it plays once, then silence.
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, async_playwright

from providers.speech.audio import resample
from tests.support import chromium

CAPTURE_RATE = 48_000  # what Chromium's capture runs at: no resampling inside the browser


def write_speech_wav(
    path: Path, pcm: bytes, rate: int, *, lead_s: float = 0.0, tail_s: float = 2.0
) -> Path:
    """Speech (PCM16LE mono) as a 48 kHz WAV, silence before and after: the caller's turn."""
    speech = resample(pcm, rate, CAPTURE_RATE)
    lead = bytes(int(lead_s * CAPTURE_RATE) * 2)
    tail = bytes(int(tail_s * CAPTURE_RATE) * 2)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(CAPTURE_RATE)
        out.writeframes(lead + speech + tail)
    return path


@asynccontextmanager
async def chromium_with_microphone(wav: Path, *, loop: bool = False) -> AsyncIterator[Browser]:
    """Headless Chromium whose microphone plays `wav` (once, unless `loop`); permission granted."""
    executable = await asyncio.to_thread(chromium.ensure)
    capture = str(wav) if loop else f"{wav}%noloop"
    args = [
        "--no-sandbox",  # the CI runs as root
        "--disable-dev-shm-usage",
        "--use-fake-ui-for-media-stream",  # grants the microphone without a prompt
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={capture}",
        "--autoplay-policy=no-user-gesture-required",
        "--mute-audio",  # plays through the audio graph, not the host's speakers
    ]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=args
        )
        try:
            yield browser
        finally:
            await browser.close()
