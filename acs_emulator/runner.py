"""Run the emulator on a loopback port inside the current event loop (tests, benchmarks)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from aiohttp import web

from acs_emulator.app import start_server, stop_server
from acs_emulator.client import EmulatorClient
from acs_emulator.config import EmulatorConfig, Timings
from acs_emulator.emulator import Emulator


class AcsEmulator:
    """``async with AcsEmulator(play_ms_per_char=1) as acs:`` then point the SDK at it.

    Keyword arguments other than host/port set `Timings` fields (event_grid_url, time_scale…).
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        **timings: Any,
    ) -> None:
        config = config or EmulatorConfig()
        if timings:
            merged = {**config.timings.model_dump(), **timings}
            config = config.model_copy(update={"timings": Timings.model_validate(merged)})
        self.config = config
        self.host = host
        self.port = port
        self.emulator = Emulator(config)
        self._runner: web.AppRunner | None = None
        self._client: EmulatorClient | None = None

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:PORT``: pass it to ``CallAutomationClient`` directly."""
        if self._runner is None:
            raise RuntimeError("AcsEmulator is not started")
        return self.emulator.base_url

    @property
    def access_key(self) -> str:
        return self.config.access_key

    @property
    def resource_id(self) -> str:
        return self.config.resource_id

    @property
    def issuer(self) -> str:
        return self.config.issuer

    @property
    def bot_number(self) -> str:
        return self.config.bot_number

    @property
    def jwks_url(self) -> str:
        return f"{self.endpoint}/calling/keys"

    @property
    def connection_string(self) -> str:
        """Note: the SDK's from_connection_string turns http into https; parse it yourself."""
        return f"endpoint={self.endpoint}/;accesskey={self.access_key}"

    @property
    def client(self) -> EmulatorClient:
        """The scripted-caller client of this emulator."""
        if self._client is None:
            raise RuntimeError("AcsEmulator is not started")
        return self._client

    async def start(self) -> None:
        if self._runner is not None:
            return
        self._runner = await start_server(self.emulator, self.host, self.port)
        self.port = int(self._runner.addresses[0][1])
        self._client = EmulatorClient(self.endpoint)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await stop_server(self.emulator, runner)

    async def __aenter__(self) -> AcsEmulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
