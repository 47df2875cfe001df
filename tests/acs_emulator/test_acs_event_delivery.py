"""Callback delivery: a connection lost before an answer is tried again, an answer is not."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest

from acs_emulator.auth import TokenSigner
from acs_emulator.events import EventSender
from core.redis_server import free_port

EVENT = {"type": "Microsoft.Communication.CallDisconnected", "data": {}}


class Receiver:
    """A bare HTTP/1.1 server: drops the first `drop` connections unanswered, then answers
    `status` to each request."""

    def __init__(self, drop: int, status: int = 200) -> None:
        self.drop, self.status = drop, status
        self.requests = 0
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        self.requests += 1
        if self.requests <= self.drop:
            writer.transport.abort()  # a reset, as a keep-alive connection closed under it
            return
        match = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
        await reader.readexactly(int(match.group(1)) if match else 0)
        writer.write(b"HTTP/1.1 %d X\r\nContent-Length: 0\r\n\r\n" % self.status)
        await writer.drain()
        writer.close()


@pytest.fixture
async def sender() -> AsyncIterator[EventSender]:
    async with aiohttp.ClientSession() as http:
        signer = TokenSigner(issuer="https://acs.test", audience="resource")
        # Short pauses (the real schedule spans ~15 s): the same logic, a quick test.
        events = EventSender(http, signer, lambda: 5.0, lambda: None, (0.01, 0.05))
        yield events
        events.cancel()


async def serve(receiver: Receiver) -> asyncio.Server:
    server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    receiver.url = f"http://127.0.0.1:{port}/callback"
    return server


async def test_a_callback_whose_connection_drops_is_sent_again(sender: EventSender) -> None:
    receiver = Receiver(drop=1)
    async with await serve(receiver):
        delivery = await sender._post(receiver.url, EVENT)
    assert delivery.ok and delivery.attempts == 2 and delivery.error is None
    assert receiver.requests == 2


async def test_an_answer_is_not_sent_again_even_an_error(sender: EventSender) -> None:
    receiver = Receiver(drop=0, status=500)
    async with await serve(receiver):
        delivery = await sender._post(receiver.url, EVENT)
    assert delivery.status == 500 and delivery.attempts == 1 and not delivery.ok
    assert receiver.requests == 1


async def test_a_receiver_that_never_answers_is_given_up_after_three_tries(
    sender: EventSender,
) -> None:
    delivery = await sender._post(f"http://127.0.0.1:{free_port()}/callback", EVENT)
    assert delivery.attempts == 3 and delivery.status is None
    assert delivery.error and "Connect" in delivery.error
