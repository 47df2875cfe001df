"""An ACS emulator, the bot's stub endpoints and the real SDK client, shared per session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from azure.communication.callautomation.aio import CallAutomationClient
from azure.core.credentials import AzureKeyCredential

from acs_emulator import AcsEmulator, Timings
from tests.acs_emulator.bot_stub import BotStub

# Fast but still ordered: plays take ~1 ms/char, recognize timeouts a tenth of what is asked.
FAST: dict[str, Any] = {
    "play_ms_per_char": 1.0,
    "play_min_ms": 20.0,
    "time_scale": 0.1,
    "answer_delay_ms": 10.0,
    "ring_timeout_ms": 300.0,
    "unknown_numbers": "auto",
}


@pytest.fixture(scope="session")
async def acs_server() -> AsyncIterator[AcsEmulator]:
    async with AcsEmulator(**FAST) as acs:
        yield acs


@pytest.fixture(scope="session")
async def bot_server(acs_server: AcsEmulator) -> AsyncIterator[BotStub]:
    stub = BotStub(
        jwks_url=acs_server.jwks_url, audience=acs_server.resource_id, issuer=acs_server.issuer
    )
    await stub.start()
    yield stub
    await stub.stop()


@pytest.fixture
async def acs(acs_server: AcsEmulator, bot_server: BotStub) -> AcsEmulator:
    """The shared emulator, reset: no calls, no phones, fast timings, Event Grid at the stub."""
    await acs_server.client.reset()
    defaults = Timings().model_dump() | FAST | {"event_grid_url": bot_server.url("/eventgrid")}
    await acs_server.client.configure(**defaults)
    bot_server.reset()
    return acs_server


@pytest.fixture
def bot(acs: AcsEmulator, bot_server: BotStub) -> BotStub:
    return bot_server


@pytest.fixture
async def sdk(acs: AcsEmulator) -> AsyncIterator[CallAutomationClient]:
    # Endpoint and key passed explicitly: a connection string would turn http into https.
    async with CallAutomationClient(acs.endpoint, AzureKeyCredential(acs.access_key)) as client:
        yield client
