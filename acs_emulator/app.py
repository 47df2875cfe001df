"""The aiohttp application: REST subset, JWKS and the control API on one port."""

from __future__ import annotations

from aiohttp import web

from acs_emulator import control, rest, sms, softphone_ws
from acs_emulator.emulator import Emulator
from acs_emulator.rest import EMULATOR_KEY, acs_middleware

MAX_BODY = 64 * 1024 * 1024  # play_audio uploads whole utterances


def create_app(emulator: Emulator) -> web.Application:
    app = web.Application(middlewares=[acs_middleware], client_max_size=MAX_BODY)
    app[EMULATOR_KEY] = emulator
    rest.add_routes(app)
    control.add_routes(app)
    sms.setup(app)
    softphone_ws.add_routes(app)
    return app


async def start_server(
    emulator: Emulator, host: str, port: int, public_url: str | None = None
) -> web.AppRunner:
    """Bind, then start the emulator with the URL it is reachable at (port 0: any free one)."""
    # Short shutdown timeout: a test tearing down mid-call should not wait a minute.
    runner = web.AppRunner(create_app(emulator), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound = int(runner.addresses[0][1])
    await emulator.start(public_url or f"http://{host}:{bound}")
    return runner


async def stop_server(emulator: Emulator, runner: web.AppRunner) -> None:
    await emulator.stop()
    await runner.cleanup()
