"""Run the scripted LLM on a real loopback socket inside the current event loop."""

from __future__ import annotations

from types import TracebackType

from aiohttp import web

from scripted_llm.script import ScriptState
from scripted_llm.server import create_app


class ScriptedLlmServer:
    """``async with ScriptedLlmServer() as llm:`` then point the app at ``llm.base_url``."""

    def __init__(
        self, state: ScriptState | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.state = state if state is not None else ScriptState()
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:PORT``."""
        if self._runner is None:
            raise RuntimeError("ScriptedLlmServer is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``base_url`` for ``AsyncOpenAI``."""
        return f"{self.url}/v1"

    @property
    def azure_endpoint(self) -> str:
        """``azure_endpoint`` for ``AsyncAzureOpenAI``."""
        return self.url

    async def start(self) -> None:
        """Bind the socket and start serving."""
        if self._runner is not None:
            return
        # Short shutdown timeout: a test tearing down mid-stream should not wait a minute.
        runner = web.AppRunner(create_app(self.state), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        # Port 0 asks the OS for a free port; read back the one it chose.
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> ScriptedLlmServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
