"""`python -m media_gateway`: serve the media WebSocket (several can run side by side)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from aiohttp import web
from redis.asyncio import Redis

from core import event_loop, logs
from core.settings import get_settings
from core.temporal import connect
from media_gateway.app import create_app
from media_gateway.telemetry import configure_telemetry
from media_gateway.wiring import build_speech, warm_phrases


async def serve(host: str, port: int) -> None:
    settings = get_settings()
    client = await connect(settings.temporal)
    redis = Redis.from_url(settings.redis.url, max_connections=settings.redis.max_connections)
    speech = build_speech(settings, redis)  # loads the models before the first call arrives
    # The greeting and prompts are ready before the first call: no synthesis delay.
    warmed = await warm_phrases(speech, settings)
    logging.getLogger(__name__).info("%d static phrases synthesised", warmed)
    app = create_app(client, speech, call_secret_key=settings.telephony.call_secret_key)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    logging.getLogger(__name__).info("media gateway on ws://%s:%d/media", host, port)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await redis.aclose()


def main() -> None:
    settings = get_settings().telephony
    parser = argparse.ArgumentParser(prog="media_gateway")
    parser.add_argument("--host", default=settings.gateway_host)
    parser.add_argument("--port", type=int, default=settings.gateway_port)
    args = parser.parse_args()
    logs.setup()
    # Metrics and spans: OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, else the console.
    shutdown_telemetry = (
        configure_telemetry()
        if os.environ.get("OTEL_SERVICE_NAME") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        else None
    )
    try:
        event_loop.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass
    finally:
        if shutdown_telemetry is not None:
            shutdown_telemetry()


if __name__ == "__main__":
    main()
