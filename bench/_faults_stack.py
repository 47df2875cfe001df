"""The fault harness: every service its own OS process, SIGKILLed and restarted by pid.

`open_fault_stack` starts, in a fresh temporary folder: Redis (`redis-server`, optionally with
AOF), the Temporal dev server on its own SQLite file (tuned as in `core/devserver.py`, restarted
on the same file and port), the scripted LLM streaming `ANSWER` slowly (a turn is in flight for
about three seconds), two workers and the API (`python -m api.main`). The workers and the API
reach the LLM and Redis through a `FaultProxy` each, which can black-hole or slow the path.

`SentenceTail` records every sentence appended to a call's Redis stream as it appears (what a
media gateway would play), with the time it appeared, from a direct connection (not proxied) that
reconnects after a Redis restart. It is the "heard" record of the chat channel.

Each process logs to `<work>/logs/<name>.log`; the folder is removed when the stack closes
unless `keep` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from core.devserver import dev_server_command
from core.redis_server import answers, free_port, redis_binary

ROOT = Path(__file__).resolve().parent.parent
TASK_QUEUE = "faults"
_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
# Each sentence distinct, so a sentence heard or stored twice is counted, not merged.
SENTENCES: tuple[str, ...] = tuple(f"Part {word} of the answer is here." for word in _WORDS)
ANSWER = " ".join(SENTENCES)
CHUNK_CHARS = 8
CHUNK_DELAY_S = 0.08  # ~0.3 s a sentence: the ten-sentence answer streams for ~3 s


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open within {timeout:.0f} s")


async def await_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise RuntimeError(f"port {port} did not open within {timeout:.0f} s")


@dataclass
class Proc:
    """One service as an OS process: started, SIGKILLed and restarted with the same argv."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of the harness is not delivered to it
            )
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> float:
        """SIGKILL by pid (no chance to clean up) and reap; returns when it was sent."""
        assert self.popen is not None
        at = time.time()
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait()
        return at

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


class FaultProxy:
    """A TCP relay to 127.0.0.1:`targets`; `black_hole()` holds every byte in both directions
    (connections stay open, nothing arrives: a partition), `slow(s)` delays each chunk.

    With several targets it is a load balancer: each connection goes to the next target in
    turn that accepts it (a dead one is skipped); `open` counts the live connections of each.
    """

    def __init__(self, *targets: int) -> None:
        self.targets = list(targets)
        self.open: Counter[int] = Counter()
        self._next = 0
        self.port = free_port()
        self.delay_s = 0.0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def black_hole(self) -> None:
        self._flowing.clear()

    def slow(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def restore(self) -> None:
        self.delay_s = 0.0
        self._flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._flowing.wait()
            upstream = await self._connect()
            if upstream is None:
                writer.close()
                return
            target, up_reader, up_writer = upstream
            self.open[target] += 1
            try:
                await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
            finally:
                self.open[target] -= 1
        except asyncio.CancelledError:
            writer.close()  # the proxy is closing: asyncio logs a handler that re-raises
        finally:
            self._tasks.discard(task)

    async def _connect(
        self,
    ) -> tuple[int, asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self.targets)):
            target = self.targets[self._next % len(self.targets)]
            self._next += 1
            try:
                return (target, *await asyncio.open_connection("127.0.0.1", target))
            except OSError:
                continue
        return None

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65_536):
                await self._flowing.wait()
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                sink.write(data)
                await sink.drain()
        except (OSError, ConnectionError):
            pass
        finally:
            sink.close()


@dataclass
class Heard:
    """One entry of a call's sentence stream, when the tail saw it."""

    at: float
    turn_id: int
    kind: str
    text: str


class SentenceTail:
    """Follows one call's sentence stream at a time (see the module docstring)."""

    def __init__(self, redis_url: str) -> None:
        self._url = redis_url
        self._key: str | None = None
        self._after = "0-0"
        self.heard: list[Heard] = []
        self._task: asyncio.Task[None] | None = None

    def follow(self, call_id: str) -> None:
        self._key, self._after, self.heard = f"call:{call_id}:sentences", "0-0", []

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def of_turn(self, turn_id: int) -> list[Heard]:
        return [h for h in self.heard if h.turn_id == turn_id]

    async def wait_turn(self, turn_id: int, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.of_turn(turn_id)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"turn {turn_id}: {len(self.of_turn(turn_id))}/{count} heard")
            await asyncio.sleep(0.01)

    async def _run(self) -> None:
        while True:
            redis = Redis.from_url(self._url, socket_timeout=2, socket_connect_timeout=1)
            try:
                while True:
                    key = self._key
                    if key is None:
                        await asyncio.sleep(0.05)
                        continue
                    found: Any = await redis.xread({key: self._after}, block=200, count=100)
                    if key != self._key:
                        continue  # followed another call meanwhile
                    streams = found.items() if isinstance(found, dict) else found or []
                    for _stream, entries in streams:
                        for entry_id, fields in entries:
                            self._after = entry_id.decode()
                            values = {k.decode(): v.decode() for k, v in fields.items()}
                            self.heard.append(
                                Heard(
                                    time.time(),
                                    int(values.get("turn_id", "0")),
                                    values.get("kind", ""),
                                    values.get("text", ""),
                                )
                            )
            except (RedisError, OSError):
                await asyncio.sleep(0.05)
            finally:
                await redis.aclose()


def _redis_argv(port: int, folder: Path, appendonly: bool) -> list[str]:
    return [
        redis_binary(), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
        "--appendonly", "yes" if appendonly else "no", "--dir", str(folder),
    ]  # fmt: skip


@dataclass
class FaultStack:
    """The running processes and the harness's own clients (see the module docstring)."""

    work: Path
    env: dict[str, str]
    redis: Proc
    temporal: Proc
    llm: Proc
    workers: list[Proc]
    api: Proc
    llm_proxy: FaultProxy
    redis_proxy: FaultProxy
    redis_port: int
    temporal_port: int
    llm_port: int
    api_port: int
    tail: SentenceTail
    temporal_client: Client | None = None
    http: httpx.AsyncClient = field(default_factory=httpx.AsyncClient)
    appendonly: bool = False
    # The phone path (`voice=True`): the ACS emulator, two gateways behind one balancer.
    emulator: Proc | None = None
    emulator_port: int = 0
    gateways: list[Proc] = field(default_factory=list)
    gateway_ports: list[int] = field(default_factory=list)
    media_proxy: FaultProxy | None = None

    def gateway_of_call(self) -> Proc | None:
        """The gateway holding the (single) live media stream."""
        assert self.media_proxy is not None
        for gateway, port in zip(self.gateways, self.gateway_ports, strict=True):
            if self.media_proxy.open[port] > 0 and gateway.alive:
                return gateway
        return None

    async def start_gateway(self, gateway: Proc) -> None:
        gateway.start()
        await await_port(self.gateway_ports[self.gateways.index(gateway)])

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    # --- restarts ---------------------------------------------------------------------------

    async def start_redis(self, appendonly: bool | None = None) -> None:
        if appendonly is not None:
            self.appendonly = appendonly
        self.redis.argv = _redis_argv(self.redis_port, self.work / "redis", self.appendonly)
        self.redis.start()
        deadline = time.monotonic() + 10
        while not await asyncio.to_thread(answers, "127.0.0.1", self.redis_port):
            if time.monotonic() > deadline or not self.redis.alive:
                raise RuntimeError("redis-server did not come back")
            await asyncio.sleep(0.02)

    async def use_redis(self, *, appendonly: bool) -> None:
        """Restart Redis cleanly with or without AOF (its data is dropped)."""
        if appendonly == self.appendonly and self.redis.alive:
            return
        self.redis.stop()
        shutil.rmtree(self.work / "redis", ignore_errors=True)
        (self.work / "redis").mkdir()
        await self.start_redis(appendonly)

    async def start_temporal(self) -> None:
        self.temporal.start()
        await await_port(self.temporal_port)

    async def start_llm(self) -> None:
        self.llm.start()
        await await_port(self.llm_port)

    async def start_api(self) -> None:
        self.api.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await self.http.get("/liveness", timeout=1)).status_code < 500:
                    return
            if not self.api.alive:
                raise RuntimeError(f"the API exited; see {self.api.log}")
            await asyncio.sleep(0.05)
        raise RuntimeError("the API did not answer")

    async def heal_workers(self) -> None:
        """Restart every dead worker and wait until it polls."""
        for worker in self.workers:
            if not worker.alive:
                worker.start()
        await self.wait_polling([w.pid for w in self.workers])

    async def wait_polling(self, pids: list[int], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                polling = await self.pollers()
                if all(pid in polling for pid in pids):
                    return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"workers {pids} are not polling")

    async def pollers(self) -> set[int]:
        """Pids of the processes polling the workflow task queue (identity `pid@host`)."""
        client = await self.client()
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace="default",
                task_queue=TaskQueue(name=TASK_QUEUE),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        return {int(p.identity.split("@")[0]) for p in response.pollers if "@" in p.identity}

    async def client(self) -> Client:
        if self.temporal_client is None:
            self.temporal_client = await Client.connect(
                f"127.0.0.1:{self.temporal_port}", data_converter=pydantic_data_converter
            )
        return self.temporal_client

    def worker_by_pid(self, pid: int) -> Proc | None:
        return next((w for w in self.workers if w.alive and w.pid == pid), None)

    async def worker_of(self, call_id: str) -> Proc:
        """The worker running the call's LLM activity, else the one that completed its last
        workflow task (it holds the call's sticky cache)."""
        client = await self.client()
        handle = client.get_workflow_handle(f"call-{call_id}")
        description = await handle.describe()
        for activity in description.raw_description.pending_activities:
            found = self.worker_by_pid(_pid(activity.last_worker_identity))
            if found is not None:
                return found
        last: Proc | None = None
        async for event in handle.fetch_history_events():
            if event.HasField("workflow_task_completed_event_attributes"):
                identity = event.workflow_task_completed_event_attributes.identity
                last = self.worker_by_pid(_pid(identity)) or last
        if last is None:
            raise RuntimeError(f"no live worker holds call {call_id}")
        return last


def _pid(identity: str) -> int:
    head = identity.split("@")[0]
    return int(head) if head.isdigit() else -1


def _script(path: Path) -> Path:
    reply = {"text": ANSWER, "chunk_chars": CHUNK_CHARS, "chunk_delay_s": CHUNK_DELAY_S}
    path.write_text(json.dumps({"default": reply}))
    return path


EVENT_GRID_SECRET = "eg-secret"
RESOURCE_ID = "00000000-0000-0000-0000-0000000fa017"


def _phone_env(api_port: int, emulator_port: int, media_port: int, key: str) -> dict[str, str]:
    from acs_emulator.config import DEFAULT_BOT_NUMBER, DEFAULT_ISSUER

    emulator = f"http://127.0.0.1:{emulator_port}"
    acs = "CALLCENTER_TELEPHONY__ACS__"
    return {
        "CALLCENTER_TELEPHONY__KIND": "acs",
        "CALLCENTER_TELEPHONY__PUBLIC_URL": f"http://127.0.0.1:{api_port}",
        "CALLCENTER_TELEPHONY__MEDIA_URL": f"ws://127.0.0.1:{media_port}/media",
        f"{acs}ENDPOINT": emulator,
        f"{acs}ACCESS_KEY": key,
        f"{acs}PHONE_NUMBER": DEFAULT_BOT_NUMBER,
        f"{acs}RESOURCE_ID": RESOURCE_ID,
        f"{acs}JWKS_URL": f"{emulator}/calling/keys",
        f"{acs}ISSUER": DEFAULT_ISSUER,
        f"{acs}EVENT_GRID_SECRET": EVENT_GRID_SECRET,
    }


@asynccontextmanager
async def open_fault_stack(*, keep: bool = False, voice: bool = False) -> AsyncIterator[FaultStack]:
    """Everything started and ready (see the module docstring); stopped in reverse on exit."""
    work = Path(tempfile.mkdtemp(prefix="faults-"))
    logs = work / "logs"
    logs.mkdir()
    (work / "redis").mkdir()
    redis_port, temporal_port, ui_port = free_port(), free_port(), free_port()
    llm_port, api_port = free_port(), free_port()
    llm_proxy, redis_proxy = FaultProxy(llm_port), FaultProxy(redis_port)
    await llm_proxy.start()
    await redis_proxy.start()
    llm_url = f"http://127.0.0.1:{llm_proxy.port}/v1"
    env = {
        **os.environ,
        "CALLCENTER_TEMPORAL__ADDRESS": f"127.0.0.1:{temporal_port}",
        "CALLCENTER_TEMPORAL__TASK_QUEUE": TASK_QUEUE,
        "CALLCENTER_REDIS__URL": f"redis://127.0.0.1:{redis_proxy.port}/0",
        "CALLCENTER_LLM__FAST__ENDPOINT": llm_url,
        "CALLCENTER_LLM__SLOW__ENDPOINT": llm_url,
        "CALLCENTER_STORE__SQLITE_PATH": str(work / "calls.sqlite3"),
        "CALLCENTER_SEARCH__SQLITE_PATH": str(work / "search.sqlite3"),
        "CALLCENTER_SMS__OUTBOX_PATH": str(work / "sms.jsonl"),
        "CALLCENTER_API__PORT": str(api_port),
        "CALLCENTER_FLAGS__REDIS_KEY": "faults:flags",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("CALLCENTER_CONFIG", None)
    python = sys.executable
    emulator_port, gateway_ports = free_port(), [free_port(), free_port()]
    media_proxy = FaultProxy(*gateway_ports) if voice else None
    emulator: Proc | None = None
    gateways: list[Proc] = []
    if media_proxy is not None:
        from acs_emulator.config import new_access_key

        await media_proxy.start()
        key = new_access_key()
        env.update(_phone_env(api_port, emulator_port, media_proxy.port, key))
        events = f"http://127.0.0.1:{api_port}/eventgrid/events?secret={EVENT_GRID_SECRET}"
        emulator = Proc(
            "emulator",
            [python, "-m", "acs_emulator", "--port", str(emulator_port), "--access-key", key,
             "--resource-id", RESOURCE_ID, "--event-grid-url", events, "--time-scale", "0.02"],
            env,
            logs / "emulator.log",
        )  # fmt: skip
        gateways = [
            Proc(f"gateway{i}", [python, "-m", "bench._faults_voice", "--port", str(port)],
                 env, logs / f"gateway{i}.log")
            for i, port in enumerate(gateway_ports, 1)
        ]  # fmt: skip
    stack = FaultStack(
        work=work,
        env=env,
        redis=Proc("redis", [], env, logs / "redis.log"),
        temporal=Proc(
            "temporal",
            dev_server_command(work / "temporal.db", port=temporal_port, ui_port=ui_port),
            env,
            logs / "temporal.log",
        ),
        llm=Proc(
            "llm",
            [
                python,
                "-m",
                "scripted_llm",
                "--port",
                str(llm_port),
                "--script",
                str(_script(work / "script.json")),
            ],
            env,
            logs / "llm.log",
        ),  # fmt: skip
        workers=[
            Proc(f"worker{i}", [python, "worker.py"], env, logs / f"worker{i}.log") for i in (1, 2)
        ],
        api=Proc("api", [python, "-m", "api.main"], env, logs / "api.log"),
        llm_proxy=llm_proxy,
        redis_proxy=redis_proxy,
        redis_port=redis_port,
        temporal_port=temporal_port,
        llm_port=llm_port,
        api_port=api_port,
        tail=SentenceTail(f"redis://127.0.0.1:{redis_port}/0"),
        http=httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=30),
        emulator=emulator,
        emulator_port=emulator_port,
        gateways=gateways,
        gateway_ports=gateway_ports if voice else [],
        media_proxy=media_proxy,
    )
    try:
        await stack.start_redis(False)
        stack.temporal.start()
        stack.llm.start()
        await await_port(temporal_port)
        await await_port(llm_port)
        for worker in stack.workers:
            worker.start()
        if emulator is not None:
            emulator.start()
            for gateway in gateways:
                gateway.start()
            await await_port(emulator_port)
            for port in gateway_ports:
                await await_port(port)
        await stack.start_api()
        await stack.wait_polling([w.pid for w in stack.workers])
        stack.tail.start()
        yield stack
    finally:
        await stack.tail.stop()
        await stack.http.aclose()
        for proc in (*stack.gateways, stack.api, *stack.workers, stack.llm, stack.temporal):
            proc.stop()
        if emulator is not None:
            emulator.stop()
        stack.redis.stop()
        if media_proxy is not None:
            await media_proxy.close()
        await llm_proxy.close()
        await redis_proxy.close()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
