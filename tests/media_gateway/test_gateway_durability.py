"""A gateway's death loses nothing the caller hears or says (issue 15).

- killed mid-answer (a real OS process, SIGKILL): the replacement says the first unfinished
  sentence and what follows, nothing the caller already heard;
- a barge-in's dropped sentences stay unsaid by a replacement too;
- caller speech cut by the death is not answered as a whole turn: the caller is asked again;
- a turn whose update fails (Temporal unreachable, its answer lost) is sent again with the same
  id until the workflow takes it, applied once, with a hold phrase meanwhile.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

import pytest
from redis.asyncio import Redis
from temporalio.client import Client

from core.redis_server import free_port
from domain.contracts import SentenceEvent
from media_gateway.control import TemporalCallControl
from media_gateway.engines import Engines
from media_gateway.marks import hearing_key
from media_gateway.session import CallSession, gateway_phrase
from providers.sentences.redis_stream import RedisSentenceStream
from scripted_llm.script import ScriptedReply
from tests.conftest import Stack
from tests.media_gateway import killable_session
from tests.media_gateway.fakes import (
    EnergyVad,
    Phone,
    RecordingControl,
    ScriptedStt,
    ToneTts,
    timeline,
)
from workflows.call import CallWorkflow

RATE = killable_session.RATE
RESENT = "sending it again"  # the session's log line when it resends a turn
FRAMES = round(killable_session.SENTENCE_S / 0.02)  # per sentence


async def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> None:
    for _ in range(round(timeout / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


def labels(frames: list[bytes]) -> list[int]:
    """Sentence numbers in the order heard, one per frame (padding left out)."""
    return [n for n in (killable_session.label(f) for f in frames) if n != 0]


def runs(heard: list[int]) -> list[tuple[int, int]]:
    """(sentence, frames) for each stretch of one sentence."""
    out: list[tuple[int, int]] = []
    for n in heard:
        if out and out[-1][0] == n:
            out[-1] = (n, out[-1][1] + 1)
        else:
            out.append((n, 1))
    return out


class RecordingTts(ToneTts):
    """The tone TTS, remembering what it was asked to say."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    async def synthesize(
        self, text: str, *, voice: str | None = None, rate: float = 1.0
    ) -> AsyncIterator[bytes]:
        self.texts.append(text)
        async for chunk in super().synthesize(text, voice=voice, rate=rate):
            yield chunk


async def append(redis: Redis, call_id: str, turn_id: int, *texts: str) -> list[str]:
    stream = RedisSentenceStream(redis)
    return [
        await stream.append(
            call_id, SentenceEvent(turn_id=turn_id, index=i, kind="sentence", text=t)
        )
        for i, t in enumerate(texts)
    ]


@asynccontextmanager
async def session_of(
    call_id: str,
    redis: Redis,
    phone: Phone,
    control: RecordingControl | TemporalCallControl,
    engines: Engines,
) -> AsyncIterator[CallSession]:
    session = CallSession(
        call_id,
        control=control,
        engines=engines,
        redis=redis,
        send=phone.receive,
        sample_rate=phone.rate,
    )
    await session.start()
    try:
        yield session
    finally:
        await session.close()


# --- what was played --------------------------------------------------------------------------


async def test_a_gateway_killed_mid_answer_is_resumed_at_the_first_unfinished_sentence(
    redis: Redis, redis_url: str
) -> None:
    call_id = f"call-{uuid.uuid4()}"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.media_gateway.killable_session", call_id, redis_url,
        stdout=asyncio.subprocess.PIPE,
        cwd=os.getcwd(),
    )  # fmt: skip
    assert process.stdout is not None
    try:
        assert await asyncio.wait_for(process.stdout.readline(), 30) == b"ready\n"
        ids = await append(redis, call_id, 1, *(f"s{n} of five." for n in range(1, 6)))
        before: list[bytes] = []
        while sum(1 for n in labels(before) if n == 3) < 5:  # 100 ms into sentence 3
            line = await asyncio.wait_for(process.stdout.readline(), 10)
            message = json.loads(line)
            assert message["kind"] == "AudioData"
            before.append(base64.b64decode(message["audioData"]["data"]))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)  # no shutdown path: as a crashed gateway
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    # What the dead gateway recorded: sentence 2 played to its last frame, 3 not finished.
    assert await RedisSentenceStream(redis).last_taken(call_id) == ids[1]

    phone = Phone(RATE)
    engines = killable_session.engines()
    async with session_of(call_id, redis, phone, RecordingControl(last_turn_id=1), engines):
        await phone.run(lambda _: None, b"", tail_s=3 * killable_session.SENTENCE_S + 0.6)
        await wait_for(
            lambda: sum(1 for n in labels([f for _, f in phone.audio_frames()]) if n == 5) >= FRAMES
        )
    after = labels([f for _, f in phone.audio_frames()])

    assert runs(labels(before))[:2] == [(1, FRAMES), (2, FRAMES)]
    # The replacement: the unfinished sentence from its start, then the rest, each once;
    # nothing the caller had heard to its end.
    assert runs(after) == [(3, FRAMES), (4, FRAMES), (5, FRAMES)]
    assert await RedisSentenceStream(redis).last_taken(call_id) == ids[4]


async def test_a_dropped_turn_is_not_said_by_a_replacement(redis: Redis) -> None:
    call_id = f"call-{uuid.uuid4()}"
    phone = Phone(RATE)
    stt = ScriptedStt(["Wait, that is wrong."])
    control = RecordingControl(last_turn_id=3)
    engines = Engines(vad=EnergyVad, stt=stt, tts=killable_session.LabelTts())
    async with session_of(call_id, redis, phone, control, engines) as first:
        ids = await append(redis, call_id, 3, *(f"s{n} of the answer." for n in range(1, 6)))
        # The caller talks over sentence 2: a real interruption (a barge-in, a new turn).
        await phone.run(first.feed, timeline(RATE, ("silence", 0.45), ("speech", 0.8)), tail_s=0.8)
        await wait_for(lambda: bool(control.turns))
        # The dropped sentences are settled at once, not when the session closes.
        await wait_for(lambda: bool(control.barge_ins))
        taken = RedisSentenceStream(redis)
        for _ in range(50):
            if await taken.last_taken(call_id) == ids[4]:
                break
            await asyncio.sleep(0.02)
        assert await taken.last_taken(call_id) == ids[4]
    heard_before = labels([f for _, f in phone.audio_frames()])
    assert 2 in heard_before and not {4, 5} & set(heard_before)  # cut in sentence 2 or 3

    again = Phone(RATE)
    async with session_of(call_id, redis, again, RecordingControl(last_turn_id=4), engines):
        (answer,) = await append(redis, call_id, 4, "s7 is the new answer.")
        await again.run(lambda _: None, b"", tail_s=0.8)
        await wait_for(lambda: len(labels([f for _, f in again.audio_frames()])) >= FRAMES)
    assert runs(labels([f for _, f in again.audio_frames()])) == [(7, FRAMES)]
    assert await taken.last_taken(call_id) == answer


# --- what the caller said ---------------------------------------------------------------------


@pytest.mark.parametrize("tail", ["speech", "silence"])
async def test_speech_cut_by_a_gateway_death_is_asked_again_not_answered(
    redis: Redis, tail: Literal["speech", "silence"]
) -> None:
    call_id = f"call-{uuid.uuid4()}"
    control = RecordingControl()
    tts = RecordingTts()
    engines = Engines(vad=EnergyVad, stt=ScriptedStt(["My car was stolen."]), tts=tts)
    first = CallSession(
        call_id,
        control=control,
        engines=engines,
        redis=redis,
        send=Phone(RATE).receive,
        sample_rate=RATE,
    )
    await first.start()
    try:
        # The caller starts a sentence; the gateway dies in the middle of it (its audio stops
        # arriving, nothing of it reaches the workflow).
        await Phone(RATE).run(first.feed, timeline(RATE, ("speech", 0.6)))
        for _ in range(50):
            if await redis.exists(hearing_key(call_id)):
                break
            await asyncio.sleep(0.02)
        assert await redis.exists(hearing_key(call_id))
        assert first.speaker is not None
        await first.speaker.close()  # its audio is gone with it

        phone = Phone(RATE)
        async with session_of(call_id, redis, phone, control, engines) as second:
            # The new stream starts with the rest of the sentence (or after it, in silence).
            audio = timeline(RATE, (tail, 0.7), ("silence", 1.2), ("speech", 0.8))
            await phone.run(second.feed, audio, tail_s=0.8)
            await wait_for(lambda: bool(control.turns))
            assert not await redis.exists(hearing_key(call_id))
    finally:
        await first.close()
    repeat = gateway_phrase("error", "en-US")
    assert tts.texts.count(repeat) == 1  # asked once to say it again
    # The fragment was never sent; the caller's next sentence is a turn as usual.
    assert [t.text for _, t in control.turns] == ["My car was stolen."]
    assert second.fragments == (1 if tail == "speech" else 0)


# --- turns reach the workflow -----------------------------------------------------------------


@dataclass
class FaultProxy:
    """A TCP proxy in front of the Temporal server: `up`, `deaf` (requests go through, answers
    are lost) or `down` (connections refused, live ones cut)."""

    target: tuple[str, int]
    mode: Literal["up", "deaf", "down"] = "up"
    port: int = field(default_factory=free_port)
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()

    def cut(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "down":
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers += [writer, up_writer]
        await asyncio.gather(
            self._pump(reader, up_writer, answers=False),
            self._pump(up_reader, writer, answers=True),
            return_exceptions=True,
        )

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, answers: bool
    ) -> None:
        try:
            while data := await reader.read(65_536):
                if self.mode == "up" or (self.mode == "deaf" and not answers):
                    writer.write(data)
                    await writer.drain()
        finally:
            writer.transport.abort()


async def said(stack: Stack, call_id: str) -> list[tuple[int | None, str]]:
    """What the workflow stored of the caller (asked directly, not through the proxy)."""
    handle = stack.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    state = await handle.query(CallWorkflow.get_state)
    return [(m.turn_id, m.content) for m in state.messages if m.persona == "human" and m.content]


async def test_a_turn_is_resent_with_its_id_until_the_workflow_takes_it(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    call_id = await stack.start_call()
    stack.llm.state.add(ScriptedReply(text="Noted, your keys."), user=call_id)
    host, _, port = stack.client.service_client.config.target_host.rpartition(":")
    proxy = FaultProxy((host, int(port)))
    await proxy.start()
    # The gateway's own client, through the proxy, as configured in production: the SDK itself
    # retries a failed call for ~10 s; the outage below outlasts that, so the session resends.
    client = await Client.connect(
        f"127.0.0.1:{proxy.port}",
        data_converter=stack.client.data_converter,  # the payload codec included
    )
    phone = Phone(RATE)
    tts = RecordingTts()
    engines = Engines(vad=EnergyVad, stt=ScriptedStt(["I lost my keys."]), tts=tts)
    caplog.set_level(logging.WARNING, logger="media_gateway.session")
    try:
        async with session_of(
            call_id, stack.redis, phone, TemporalCallControl(client, call_id), engines
        ) as session:
            proxy.mode = "deaf"  # the update reaches the workflow; its answer is lost
            await phone.run(session.feed, timeline(RATE, ("speech", 0.8)), tail_s=0.7)
            await asyncio.sleep(1.0)
            proxy.mode = "down"  # then Temporal cannot be reached at all for a while
            proxy.cut()
            # The workflow took the turn already; the gateway does not know.
            assert await said(stack, call_id) == [(1, "I lost my keys.")]
            await wait_for(lambda: any(RESENT in r.getMessage() for r in caplog.records), 20)
            proxy.mode = "up"
            await wait_for(lambda: session.delivering == 0, timeout=20)
            await phone.run(session.feed, b"", tail_s=1.5)  # the answer is spoken
    finally:
        await proxy.stop()
    assert await said(stack, call_id) == [(1, "I lost my keys.")]  # applied once, its id
    handle = stack.client.get_workflow_handle_for(CallWorkflow.run, f"call-{call_id}")
    state = await handle.query(CallWorkflow.get_state)
    answers = [m.content for m in state.messages if m.persona == "assistant" and m.turn_id == 1]
    assert answers == ["Noted, your keys."]
    assert [t.turn_id for t in session.turns] == [1]  # one turn, never renumbered
    assert session.holds == 1 and tts.texts.count(gateway_phrase("hold", "en-US")) == 1
    streamed = [e.text for _, e in await stack.sentences.read(call_id) if e.turn_id == 1]
    assert streamed.count("Noted, your keys.") == 1


async def test_a_sentence_resumed_after_a_backchannel_is_marked_played_once_finished(
    redis: Redis,
) -> None:
    call_id = f"call-{uuid.uuid4()}"
    phone = Phone(RATE)
    control = RecordingControl()
    engines = Engines(vad=EnergyVad, stt=ScriptedStt(["Mhm."]), tts=ToneTts())
    taken = RedisSentenceStream(redis)
    async with session_of(call_id, redis, phone, control, engines) as session:
        (entry,) = await append(redis, call_id, 0, "one two three four five six seven eight")
        audio = timeline(RATE, ("silence", 0.5), ("speech", 0.4), ("silence", 0.3))
        await phone.run(session.feed, audio)
        assert phone.stops()  # stopped at the cutoff, then only "mhm": said on
        assert await taken.last_taken(call_id) != entry  # not finished yet
        await phone.run(session.feed, b"", tail_s=2.5)
        await wait_for(lambda: session.speaker is not None and not session.speaker.active)
        for _ in range(50):
            if await taken.last_taken(call_id) == entry:
                break
            await asyncio.sleep(0.02)
    assert not control.barge_ins and not control.turns
    assert await taken.last_taken(call_id) == entry
