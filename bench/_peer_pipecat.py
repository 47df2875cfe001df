"""The Pipecat side of `bench/peers.py`: a Pipecat voice agent with the same engines as ours.

Runs in its own virtual environment (Pipecat pins its own versions), so it imports nothing of
this project: the parent passes the model paths and the scripted LLM's URL. A FastAPI WebSocket
endpoint carries raw PCM16 mono 16 kHz both ways (a minimal serializer, like a phone media
stream without the JSON envelope). The pipeline is Pipecat's standard one: transport in →
Whisper STT → user aggregator (Silero VAD, turn stop strategy) → OpenAI-compatible LLM → Piper
TTS → transport out → assistant aggregator.

Turn-stop configurations:
  default   Pipecat's default: Silero VAD stop 0.2 s + the smart-turn v3 model it ships;
  silence   a fixed silence like ours: `SpeechTimeoutUserTurnStopStrategy(--silence)`.

    pipecat-venv/bin/python bench/_peer_pipecat.py --port P --llm-url URL \
        --whisper-dir DIR --piper-dir DIR --voice en_US-joe-medium --turn-stop default
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI, WebSocket
from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.runner import PipelineRunner
from pipecat.pipeline.task import PipelineParams, PipelineTask
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.serializers.base_serializer import FrameSerializer
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.services.piper.tts import PiperTTSService
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketParams,
    FastAPIWebsocketTransport,
)
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

RATE = 16_000


class RawPcm(FrameSerializer):
    """Binary messages are PCM16 mono at 16 kHz, in and out."""

    async def serialize(self, frame: Frame) -> bytes | None:
        if isinstance(frame, OutputAudioRawFrame):
            return frame.audio
        return None

    async def deserialize(self, data: str | bytes) -> Frame | None:
        if isinstance(data, bytes):
            return InputAudioRawFrame(audio=data, sample_rate=RATE, num_channels=1)
        return None


def build_app(args: argparse.Namespace) -> FastAPI:
    app = FastAPI()
    stt = {"model": str(args.whisper_dir), "device": "cpu", "compute_type": "int8"}

    @app.websocket("/ws")
    async def call(websocket: WebSocket) -> None:
        await websocket.accept()
        transport = FastAPIWebsocketTransport(
            websocket,
            FastAPIWebsocketParams(
                audio_in_enabled=True,
                audio_out_enabled=True,
                audio_in_sample_rate=RATE,
                audio_out_sample_rate=RATE,
                add_wav_header=False,
                serializer=RawPcm(),
            ),
        )
        if args.turn_stop == "default":
            vad = SileroVADAnalyzer(params=VADParams(stop_secs=0.2))
            strategies = UserTurnStrategies()  # smart-turn v3
        else:
            vad = SileroVADAnalyzer(params=VADParams(stop_secs=0.2))
            strategies = UserTurnStrategies(
                stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=args.silence)]
            )
        context = LLMContext([{"role": "system", "content": "You are a helpful phone agent."}])
        aggregators = LLMContextAggregatorPair(
            context,
            user_params=LLMUserAggregatorParams(vad_analyzer=vad, user_turn_strategies=strategies),
        )
        llm = OpenAILLMService(api_key="bench", base_url=args.llm_url, model="fast-model")
        tts = PiperTTSService(
            settings=PiperTTSService.Settings(voice=args.voice), download_dir=args.piper_dir
        )
        pipeline = Pipeline(
            [
                transport.input(),
                WhisperSTTService(**stt),  # type: ignore[arg-type]
                aggregators.user(),
                llm,
                tts,
                transport.output(),
                aggregators.assistant(),
            ]
        )
        task = PipelineTask(
            pipeline,
            params=PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE),
        )

        @transport.event_handler("on_client_disconnected")
        async def _gone(_transport: object, _client: object) -> None:
            await task.cancel()

        await PipelineRunner(handle_sigint=False).run(task)

    @app.get("/ready")
    async def ready() -> dict[str, bool]:
        return {"ready": True}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--llm-url", required=True)
    parser.add_argument("--whisper-dir", type=Path, required=True)
    parser.add_argument("--piper-dir", type=Path, required=True)
    parser.add_argument("--voice", default="en_US-joe-medium")
    parser.add_argument("--turn-stop", choices=["default", "silence"], default="default")
    parser.add_argument("--silence", type=float, default=0.5)
    args = parser.parse_args()
    logger.remove()
    logger.add(sys.stderr, level=os.environ.get("PIPECAT_LOG", "WARNING"))
    uvicorn.run(build_app(args), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
