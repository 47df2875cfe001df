"""``python -m acs_emulator --port 8100 --access-key KEY --resource-id ID --bot-number +1…``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from acs_emulator.app import start_server, stop_server
from acs_emulator.config import DEFAULT_BOT_NUMBER, DEFAULT_ISSUER, EmulatorConfig, Timings
from acs_emulator.emulator import Emulator
from core import logs

log = logging.getLogger("acs_emulator")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="acs_emulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8100)
    p.add_argument("--public-url", help="URL the emulator is reached at (default http://HOST:PORT)")
    p.add_argument("--access-key", required=True, help="base64 access key the SDK signs with")
    p.add_argument("--resource-id", required=True, help="audience of the callback JWTs")
    p.add_argument("--event-grid-url", default="none", help="IncomingCall webhook, or 'none'")
    p.add_argument("--bot-number", default=DEFAULT_BOT_NUMBER)
    p.add_argument("--issuer", default=DEFAULT_ISSUER)
    p.add_argument("--play-ms-per-char", type=float, default=40.0)
    p.add_argument("--play-min-ms", type=float, default=200.0)
    p.add_argument("--time-scale", type=float, default=1.0, help="scales recognize timeouts")
    p.add_argument("--answer-delay-ms", type=float, default=50.0)
    p.add_argument("--ring-timeout-ms", type=float, default=30_000.0)
    p.add_argument("--unknown-numbers", choices=["auto", "never", "reject", "busy"], default="auto")
    p.add_argument(
        "--insecure-media-tls", action="store_true", help="skip wss:// certificate checks"
    )
    return p.parse_args(argv)


def config_from(args: argparse.Namespace) -> EmulatorConfig:
    timings = Timings(
        play_ms_per_char=args.play_ms_per_char,
        play_min_ms=args.play_min_ms,
        time_scale=args.time_scale,
        answer_delay_ms=args.answer_delay_ms,
        ring_timeout_ms=args.ring_timeout_ms,
        unknown_numbers=args.unknown_numbers,
        event_grid_url=None if args.event_grid_url.lower() == "none" else args.event_grid_url,
    )
    return EmulatorConfig(
        access_key=args.access_key,
        resource_id=args.resource_id,
        bot_number=args.bot_number,
        issuer=args.issuer,
        timings=timings,
        media_verify_tls=not args.insecure_media_tls,
    )


async def serve(args: argparse.Namespace) -> None:
    emulator = Emulator(config_from(args))
    runner = await start_server(emulator, args.host, args.port, args.public_url)
    log.info("ACS emulator on %s (JWKS %s/calling/keys)", emulator.base_url, emulator.base_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Windows' event loop has no signal handlers: Ctrl-C still stops it there.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await stop_server(emulator, runner)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logs.setup(logging.INFO, "%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
