"""The session with the real engines: Piper speaks as the caller, Silero VAD and Whisper listen."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from media_gateway.engines import Engines, resample
from media_gateway.session import CallSession
from providers.speech import local_vad as speech
from providers.speech import models
from providers.speech import piper_tts as piper
from providers.speech import whisper_stt as whisper
from tests.media_gateway.fakes import Phone, RecordingControl


async def test_a_spoken_sentence_becomes_a_user_turn(redis: Redis) -> None:
    # The models come from registry packages (make install assembles them): never skipped.
    tts = piper.PiperTts(*models.piper_voice())
    stt = whisper.WhisperStt(models.whisper_base_dir())
    vad = speech.silero_factory(models.silero_vad_path())
    said = b"".join([c async for c in tts.synthesize("My car was stolen yesterday evening.")])
    rate = 16_000
    caller = bytes(rate // 2) + resample(said, tts.sample_rate, rate)
    control = RecordingControl()
    phone = Phone(rate)
    session = CallSession(
        "call-real-speech",
        control=control,
        engines=Engines(vad=vad, stt=stt, tts=tts),
        redis=redis,
        send=phone.receive,
        sample_rate=rate,
    )
    await session.start()
    try:
        await phone.run(session.feed, caller, tail_s=1.0)
        for _ in range(200):
            if control.turns:
                break
            await asyncio.sleep(0.05)
    finally:
        await session.close()
    assert len(control.turns) == 1
    text = control.turns[0][1].text.lower()
    assert "car" in text and "yesterday" in text  # whisper-base may mishear "stolen"
