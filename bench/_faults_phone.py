"""The fault matrix on the phone path: the ACS emulator's scripted caller, two real gateway
processes (`bench/_faults_voice.py`: tone engines), the same workers, API and services.

A trial places an outbound call, lets the greeting play, then the caller says two turns (each a
tone the STT reads back as "Caller turn n."), waiting for the bot's answer to end after each.
The fault hits turn 1 (or, for "connect", the call's answering); a turn nothing answered is
said again, as a caller would. Three records are compared: what the caller said, what the workflow
stored, and what the phone received (the emulator's recording of the bot's audio, decoded tone
by tone into sentences). The received-byte count is sampled every 50 ms, so a position in that
recording has a time: the gap is from the fault to the first audible frame after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from acs_emulator.client import EmulatorClient
from bench._faults_cases import Case, Trial, kill_worker, restart_temporal
from bench._faults_stack import SENTENCES, FaultStack
from bench._faults_voice import CALLER_S, RATE, SENTENCE_S, caller_turn, decode

ONE_LANGUAGE = {
    "default_short_code": "en-US",
    "availables": [{"short_code": "en-US", "voice": "en-US-AvaMultilingualNeural"}],
}
BYTES_PER_S = 2 * RATE
QUIET_S = 1.5  # the bot is done when no audio arrived for this long


async def kill_gateway(stack: FaultStack, _call_id: str) -> float:
    gateway = stack.gateway_of_call()
    if gateway is None:
        raise RuntimeError("no gateway holds the call")
    gateway.kill()
    return 0.0  # the other gateway takes the stream; the dead one is restarted after the trial


CALLBACK_DOWN_S = 2.5  # the phone answers 1.5 s after ringing; the emulator resends 0.6 s


async def restart_api_late(stack: FaultStack, _call_id: str) -> float:
    """The API dead while the call is answered (its CallConnected and the resends of it)."""
    start = time.time()
    stack.api.kill()
    await asyncio.sleep(CALLBACK_DOWN_S)
    await stack.start_api()
    return time.time() - start


# `when`: "bot" = while the answer to turn 1 plays; "caller" = while the caller says turn 1;
# "connect" = while the call is being answered (its CallConnected callback).
PHONE_CASES: tuple[Case, ...] = (
    # The bot is heard again within 3 s: the rest of its answer, or a request to repeat.
    Case("phone-gateway-bot", "gateway SIGKILL while the bot speaks", "bot", kill_gateway, 3.0),
    Case(
        "phone-gateway-caller",
        "gateway SIGKILL while the caller speaks",
        "caller",
        kill_gateway,
        3.0,
    ),
    Case(
        "phone-worker-bot", "worker SIGKILL while the bot speaks (phone)", "bot", kill_worker, 2.0
    ),
    Case(
        "phone-temporal-caller",
        "Temporal SIGKILL+restart mid-utterance",
        "caller",
        restart_temporal,
        2.0,
    ),
    Case(
        "phone-api-connect",
        "API down 2.5 s while CallConnected is delivered",
        "connect",
        restart_api_late,
    ),  # fmt: skip
)
PHONE_BY_NAME = {case.name: case for case in PHONE_CASES}


@dataclass
class Line:
    """The phone side of one call: received-byte timeline and where each caller turn began."""

    acs: EmulatorClient
    connection_id: str
    timeline: list[tuple[float, int]] = field(default_factory=list)
    marks: dict[int, int] = field(default_factory=dict)  # caller turn -> received bytes then
    said_at: list[float] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    @property
    def received(self) -> int:
        return self.timeline[-1][1] if self.timeline else 0

    async def _sample(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                record = await self.acs.call(self.connection_id)
                self.timeline.append((time.time(), record.media.audio_bytes_received))
            await asyncio.sleep(0.05)

    def time_of(self, position: int) -> float | None:
        """When the received recording reached `position` bytes."""
        return next((t for t, n in self.timeline if n > position), None)

    def longest_silence(self, fault_at: float) -> float | None:
        """The longest wait for bot audio from `fault_at` until the caller's next turn: the
        first audio after the fault, and every pause in the answer after it. The audio the
        phone still had queued at the fault does not count as an answer."""
        end = next((t for t in self.said_at if t > fault_at), time.time())
        arrivals = [
            t
            for (t, n), (_, before) in zip(self.timeline[1:], self.timeline, strict=False)
            if n > before and fault_at < t <= end
        ]
        if not arrivals:
            return None
        pauses = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
        return max([arrivals[0] - fault_at, *pauses])

    def position_at(self, at: float) -> int:
        before = [n for t, n in self.timeline if t <= at]
        return before[-1] if before else 0

    async def until_quiet(self, timeout: float = 40.0, since: int | None = None) -> None:
        """Until audio arrived (past position `since`, default now) and then none for
        `QUIET_S` (or the timeout)."""
        deadline = time.monotonic() + timeout
        start = self.received if since is None else since
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            recent = [n for t, n in self.timeline if t >= time.time() - QUIET_S]
            if self.received > start and recent and recent[0] == recent[-1]:
                if len(recent) >= QUIET_S / 0.05 * 0.6:
                    return
        return

    async def until_received(self, extra: int, timeout: float = 30.0) -> None:
        target = self.received + extra
        deadline = time.monotonic() + timeout
        while self.received < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the phone received {self.received}/{target} bytes")
            await asyncio.sleep(0.02)

    async def say(self, turn: int) -> None:
        self.marks.setdefault(turn, self.received)
        self.said_at.append(time.time())
        await self.acs.play_audio(self.connection_id, caller_turn(turn), RATE)


async def _connected(stack: FaultStack, call_id: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            call = (await stack.http.get(f"/call/{call_id}", timeout=5)).json()["call"]
            if call["status"] == "in_progress" and call["connection_id"]:
                return str(call["connection_id"])
        await asyncio.sleep(0.1)
    raise TimeoutError(f"call {call_id} did not connect")


async def _stored(stack: FaultStack, call_id: str) -> dict[str, Any]:
    from bench._faults_cases import stored_call

    return await stored_call(stack, call_id)


async def _first(*waits: Coroutine[Any, Any, None]) -> None:
    tasks = [asyncio.create_task(w) for w in waits]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _answered(stack: FaultStack, call_id: str, turn: int, timeout: float = 20.0) -> None:
    """Until the workflow stored an answer to the caller's `turn` (or the timeout): the bot's
    audio can pause mid-answer (a retried LLM turn), and a caller waits for the whole of it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            call = (await stack.http.get(f"/call/{call_id}", timeout=5)).json()["call"]
            ids = _turn_texts(call).get(f"Caller turn {turn}.", [])
            if any(
                m["persona"] == "assistant" and m.get("turn_id") in ids and m.get("content")
                for m in call["messages"]
            ):
                return
        await asyncio.sleep(0.2)


def _turn_texts(call: dict[str, Any]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for m in call.get("messages", []):
        if m["persona"] == "human" and m.get("content"):
            found.setdefault(m["content"], []).append(int(m.get("turn_id") or 0))
    return found


async def run_phone_trial(stack: FaultStack, case: Case) -> Trial:
    assert stack.emulator_port
    async with EmulatorClient(f"http://127.0.0.1:{stack.emulator_port}") as acs:
        number = f"+3361{uuid.uuid4().int % 10**7:07d}"
        delay = 1_500 if case.when == "connect" else 50
        await acs.add_phone(number, answer="auto", answer_delay_ms=delay)
        response = await stack.http.post(
            "/call", json={"phone_number": number, "lang": ONE_LANGUAGE}
        )
        response.raise_for_status()
        call_id = str(response.json()["call_id"])
        stack.tail.follow(call_id)
        fault_at = 0.0
        restart_s = 0.0
        early: Line | None = None
        if case.when == "connect":
            ringing = await acs.wait_for_state(number, "ringing")
            # The phone listens from the start: the workflow may connect and greet (its own
            # check with ACS) while the API is still down, before the API can say so.
            early = Line(acs, ringing.connection_id)
            early.start()
            fault_at = time.time()
            restart_s = await case.inject(stack, call_id)
        try:
            connection_id = await _connected(stack, call_id)
        except TimeoutError:
            if early is not None:
                await early.stop()
            status = (await _stored(stack, call_id)).get("status")
            trial = Trial(case.name, lost=1, restart_s=restart_s)
            trial.notes.append(f"the call never connected (status {status})")
            with contextlib.suppress(Exception):
                await acs.hang_up(number)
            await stack.heal_workers()
            return trial
        line = early if early is not None else Line(acs, connection_id)
        if early is None:
            line.start()
        try:
            # The greeting (from the line's start when it listened before the API answered).
            await line.until_quiet(since=0 if early is not None else None)
            await line.say(1)
            if case.when == "bot":
                await line.until_received(round(2.5 * SENTENCE_S * BYTES_PER_S))
                fault_at = time.time()
                restart_s = await case.inject(stack, call_id)
            elif case.when == "caller":
                await asyncio.sleep(CALLER_S * 0.4)
                fault_at = time.time()
                restart_s = await case.inject(stack, call_id)
            if case.when == "caller":
                # Cut off, the caller waits for an answer or for the bot to say something else
                # (a request to repeat), whichever comes first.
                await _first(_answered(stack, call_id, 1), line.until_quiet(20, line.received))
                await asyncio.sleep(2.0)  # an answer being stored as its audio ends
            else:
                await _answered(stack, call_id, 1)
            await line.until_quiet(20, line.marks[1])
            repeated = False
            if "Caller turn 1." not in _turn_texts(await _stored(stack, call_id)):
                repeated = True  # nothing answered it: a caller says it again
                await line.say(1)
                await _answered(stack, call_id, 1)
                await line.until_quiet(20, line.marks[1])
            await line.say(2)
            await _answered(stack, call_id, 2)
            await line.until_quiet(40, line.marks[2])
            await asyncio.sleep(0.5)
        finally:
            await line.stop()
        call = await _stored(stack, call_id)
        pcm, rate = await acs.received_audio(connection_id)
        with contextlib.suppress(Exception):
            await acs.hang_up(connection_id)
    assert rate == RATE, rate
    trial = measure_phone(case, call, line, pcm, fault_at)
    trial.restart_s = restart_s
    if repeated:
        trial.notes.append("turn 1 unanswered: the caller repeated it")
    for gateway in stack.gateways:
        if not gateway.alive:
            await stack.start_gateway(gateway)
    await stack.heal_workers()
    return trial


def measure_phone(
    case: Case, call: dict[str, Any], line: Line, pcm: bytes, fault_at: float
) -> Trial:
    trial = Trial(case.name)
    texts = _turn_texts(call)
    for text, turn_ids in texts.items():
        if "(fragment)" in text:
            trial.lost += 1
            trial.notes.append(f"a fragment answered as a whole turn: {text!r}")
        elif len(turn_ids) > 1:
            trial.duplicated += len(turn_ids) - 1
    ends = sorted(line.marks.items())
    for index, (turn, start) in enumerate(ends):
        text = f"Caller turn {turn}."
        if text not in texts:
            trial.lost += 1
            trial.notes.append(f"turn {turn} not stored")
            continue
        turn_id = texts[text][-1]
        said = " ".join(
            m["content"] or ""
            for m in call["messages"]
            if m["persona"] == "assistant" and m.get("turn_id") == turn_id
        )
        end = ends[index + 1][1] if index + 1 < len(ends) else len(pcm)
        heard: Counter[str] = Counter()
        for code, _, seconds in decode(pcm[start:end]):
            if code.startswith("s"):
                # Whole plays only: a sentence cut by the fault and resumed from its start
                # makes one run a bit longer than a sentence, not two.
                heard[code] += math.floor((seconds + 0.1) / SENTENCE_S)
        for k, sentence in enumerate(SENTENCES):
            if said.count(sentence) and not heard[f"s{k}"]:
                trial.unheard += 1
            trial.heard_twice += max(0, heard[f"s{k}"] - 1)
        if not said:
            trial.notes.append(f"turn {turn}: no answer stored")
    if fault_at:
        trial.gap_s = line.longest_silence(fault_at)
        position = line.position_at(fault_at)
        after = [code for code, _, _ in decode(pcm[position - position % 2 :]) if code]
        first_answer = next((i for i, c in enumerate(after) if c.startswith("s")), 0)
        trial.between = sorted(set(after[:first_answer]))
    return trial
