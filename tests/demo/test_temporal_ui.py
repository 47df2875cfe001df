"""The Temporal UI of `make dev` / `make demo` shows a call decrypted, in a real Chromium.

The dev server is started by `dev_server_command` exactly as `make dev` and `make demo` start
it (with `--ui-codec-endpoint` at the API's `/codec`); the worker and the API run on it with the
test key; Chromium opens the call's workflow page, whose scripts fetch the encrypted payloads
from the server and have the codec server decrypt them. The screenshot is saved to
`test-artifacts/temporal-ui-decoded.png` (input) and `temporal-ui-decoded-state.png`
(summary and current details).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, async_playwright
from redis.asyncio import Redis

from api.deps import Services
from api.main import create_app
from cli.processes import http_ok, port_open
from core.devserver import dev_server_command
from core.redis_server import free_port
from core.stores import open_store
from core.temporal import connect
from domain.phone import mask
from scripted_llm.runner import ScriptedLlmServer
from tests.conftest import make_settings
from tests.support import chromium
from worker import build_worker

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
NUMBER = "+33612000099"


@dataclass
class UiStack:
    ui: str
    api: httpx.AsyncClient
    codec_calls: list[str]


async def wait_for(ready: Callable[[], bool], what: str, within_s: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not await asyncio.to_thread(ready):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not ready within {within_s} s")
        await asyncio.sleep(0.2)


@pytest.fixture
async def ui_stack(
    tmp_path: Path, redis_url: str, scripted_llm: ScriptedLlmServer
) -> AsyncIterator[UiStack]:
    api_socket = socket.socket()
    api_socket.bind(("127.0.0.1", 0))
    api_url = f"http://127.0.0.1:{api_socket.getsockname()[1]}"
    temporal_port, ui_port = free_port(), free_port()
    command = dev_server_command(
        tmp_path / "temporal.db",
        port=temporal_port,
        ui_port=ui_port,
        codec_endpoint=f"{api_url}/codec",
    )
    log = (tmp_path / "temporal.log").open("wb")
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: ASYNC220 (returns at once)
    ui = f"http://127.0.0.1:{ui_port}"
    settings = make_settings(tmp_path, redis_url, scripted_llm, f"127.0.0.1:{temporal_port}")
    settings.temporal.ui_url = ui  # the origin the codec server answers CORS for
    codec_calls: list[str] = []
    async with AsyncExitStack() as resources:
        resources.callback(log.close)
        resources.callback(server.wait, 10)
        resources.callback(server.terminate)
        await wait_for(lambda: port_open("127.0.0.1", temporal_port), "temporal")
        await wait_for(lambda: http_ok(f"{ui}/api/v1/settings"), "the Temporal UI")
        client = await connect(settings.temporal)
        worker = await build_worker(client, settings, resources)
        redis = Redis.from_url(redis_url)
        resources.push_async_callback(redis.aclose)
        store = await open_store(settings.store)
        resources.push_async_callback(store.close)
        app = create_app(settings, Services(settings, client, store, redis))

        @app.middleware("http")
        async def note_codec_calls(request: object, call_next: Callable[..., Awaitable[object]]):  # type: ignore[no-untyped-def]
            codec_calls.append(getattr(request, "url").path)  # noqa: B009
            return await call_next(request)

        api_server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        serving = asyncio.create_task(api_server.serve(sockets=[api_socket]))

        async def stop_api() -> None:
            api_server.should_exit = True
            await serving
            api_socket.close()

        resources.push_async_callback(stop_api)
        running = asyncio.create_task(worker.run())

        async def stop_worker() -> None:
            await worker.shutdown()
            await asyncio.gather(running, return_exceptions=True)

        resources.push_async_callback(stop_worker)
        http = httpx.AsyncClient(base_url=api_url, timeout=60)
        resources.push_async_callback(http.aclose)
        yield UiStack(ui, http, codec_calls)


async def page_text(page: Page) -> str:
    """What the page shows, its frames included (the UI renders the summary and details as
    markdown in sandboxed iframes)."""
    texts = []
    for frame in page.frames:
        try:
            texts.append(str(await frame.evaluate("document.body ? document.body.innerText : ''")))
        except PlaywrightError:  # a frame navigating or gone between listing and reading
            continue
    return "\n".join(texts)


@pytest.mark.timeout(240)
async def test_the_ui_shows_a_call_decrypted(ui_stack: UiStack) -> None:
    created = await ui_stack.api.post("/call", json={"phone_number": NUMBER})
    assert created.status_code == 201, created.text
    call = created.json()
    said = await ui_stack.api.post(
        f"/call/{call['call_id']}/messages", json={"text": "I had a car accident in Lyon"}
    )
    assert said.status_code == 200, said.text
    url = f"{ui_stack.ui}/namespaces/default/workflows/{call['workflow_id']}"
    assert call["temporal_ui_url"] == url

    executable = await asyncio.to_thread(chromium.ensure)
    screenshot = ARTIFACTS / "temporal-ui-decoded.png"
    state_shot = ARTIFACTS / "temporal-ui-decoded-state.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    for stale in (screenshot, state_shot):
        stale.unlink(missing_ok=True)  # a stale picture never passes for this run's
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1800})
            await page.goto(url)
            # The input is decrypted in the page: the full number only exists inside it (the
            # summary and search attribute show it masked or hashed).
            text = ""
            for _ in range(120):
                text = await page_text(page)
                if NUMBER in text:
                    break
                await asyncio.sleep(0.5)
            await page.screenshot(path=str(screenshot), full_page=True)
            assert NUMBER in text, text[:3000]
            assert "binary/encrypted" not in text
            assert f'"call_id": "{call["call_id"]}"' in text
            # The call's state as the workflow shows it: the summary (an encrypted payload of
            # its own) masked, and the current details (a query answer) with the claim.
            await page.get_by_text("User Metadata", exact=True).click()
            for _ in range(60):
                text = await page_text(page)
                if "claim 0/12" in text and f"Outbound call to {mask(NUMBER)}" in text:
                    break
                await asyncio.sleep(0.5)
            await page.screenshot(path=str(state_shot), full_page=True)
            assert f"Outbound call to {mask(NUMBER)}" in text, text[:3000]
            assert "claim 0/12" in text, text[:3000]
        finally:
            await browser.close()
    assert "/codec/decode" in ui_stack.codec_calls
    assert screenshot.stat().st_size > 10_000 and state_shot.stat().st_size > 10_000
    print(f"\nscreenshots: {screenshot} {state_shot}")  # noqa: T201
