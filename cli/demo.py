"""`make demo`: every service on the embedded defaults, then one spoken demo call.

Starts the Temporal dev server, Redis (when none answers), the local LLM server (llama.cpp),
the ACS emulator, the media gateway, the worker and the API; places a call with `POST /call`
to a phone of the emulator, where a scripted caller with a synthesised voice reports a car
accident; prints the live transcript, then the claim, the synthesis, the report and Temporal
UI URLs; and stops what it started.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx

from acs_emulator.client import EmulatorClient
from cli.demo_call import DemoResult
from cli.dev import DEMO_SCRIPT, emulator_command, emulator_environment
from cli.processes import ServiceFailed, Services, http_ok, port_open
from cli.turn_timings import SpanCollector, timing_table, turn_timings
from core.devserver import dev_server_command
from core.redis_server import RedisProcess, answers
from core.settings import Settings, get_settings
from core.tracing import ENDPOINT_VARIABLE

VAR = Path("var")
CUSTOMER = "+33655501234"  # the emulator phone the bot calls (a reserved-looking FR mobile)
DEMO_FLAGS_KEY = "callcenter:demo:flags"  # the demo's flags never touch the user's flags


@dataclass(frozen=True)
class DemoPorts:
    emulator: int = 8100
    llm: int = 8766


class Progress:
    """Readable steps on a terminal or a CI log: never silent for more than a few seconds."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self._last_tick = 0.0

    def say(self, line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.say(f"==> {title}")
        t0 = time.monotonic()
        self._last_tick = 0.0
        yield
        self.say(f"    done in {time.monotonic() - t0:.1f} s")

    def tick(self, what: str) -> Progress.Ticker:
        return Progress.Ticker(self, what)

    class Ticker:
        def __init__(self, progress: Progress, what: str) -> None:
            self.progress, self.what, self.last = progress, what, 0.0

        def __call__(self, elapsed: float) -> None:
            if elapsed - self.last >= 5:
                self.last = elapsed
                self.progress.say(f"    still waiting for {self.what} ({elapsed:.0f} s)")


def _llm_environment(port: int, model: str, *, local: bool) -> dict[str, str]:
    """Both models on the one local server; a small model gets the small prompt."""
    endpoint = f"http://127.0.0.1:{port}/v1"
    env: dict[str, str] = {}
    for which in ("FAST", "SLOW"):
        env[f"CALLCENTER_LLM__{which}__ENDPOINT"] = endpoint
        env[f"CALLCENTER_LLM__{which}__MODEL"] = model
        if local:
            env[f"CALLCENTER_LLM__{which}__CONTEXT_TOKENS"] = "4096"
            env[f"CALLCENTER_LLM__{which}__REQUEST_TIMEOUT_SEC"] = "60"
    if local:
        env["CALLCENTER_LLM__PROFILE"] = "small"
        env["CALLCENTER_LLM__GUARDRAILS"] = "true"
    return env


def _check_free(settings: Settings, ports: DemoPorts) -> None:
    host, _, temporal_port = settings.temporal.address.rpartition(":")
    wanted = {
        "Temporal": int(temporal_port),
        "Temporal UI": urlparse(settings.temporal.ui_url).port or 8233,
        "API": settings.api.port,
        "media gateway": settings.telephony.gateway_port,
        "ACS emulator": ports.emulator,
        "LLM server": ports.llm,
    }
    busy = [f"{name} ({port})" for name, port in wanted.items() if port_open("127.0.0.1", port)]
    if busy:
        raise ServiceFailed(
            "ports in use: " + ", ".join(busy) + " — is `make dev` running? Stop it first."
        )


def run_demo(*, scripted_llm: bool = False, ports: DemoPorts | None = None) -> int:
    """Run the demo; returns the exit status (0: the call completed with a synthesis)."""
    ports = ports or DemoPorts()
    progress = Progress()
    settings = get_settings()
    VAR.mkdir(exist_ok=True)
    env = dict(os.environ)
    env["CALLCENTER_FLAGS__REDIS_KEY"] = DEMO_FLAGS_KEY
    services = Services(VAR / "logs" / "demo", env)
    redis_process: RedisProcess | None = None
    try:
        _check_free(settings, ports)
        with progress.step("models (speech and LLM; assembled once, then reused)"):
            model_name = _models(progress, scripted_llm)
        host, _, temporal_port = settings.temporal.address.rpartition(":")
        api_url = f"http://{settings.api.host}:{settings.api.port}"
        env.update(emulator_environment(api_url, settings.telephony.gateway_port))
        env["CALLCENTER_TELEPHONY__ACS__ENDPOINT"] = f"http://127.0.0.1:{ports.emulator}"
        env["CALLCENTER_TELEPHONY__ACS__JWKS_URL"] = (
            f"http://127.0.0.1:{ports.emulator}/calling/keys"
        )
        env.update(_llm_environment(ports.llm, model_name, local=not scripted_llm))
        # Every process sends its spans to the demo, which prints where each turn's time went
        # (unless the user sends them to a collector of their own).
        collector = None if env.get(ENDPOINT_VARIABLE) else SpanCollector()
        if collector is not None:
            env[ENDPOINT_VARIABLE] = collector.endpoint
            env["OTEL_BSP_SCHEDULE_DELAY"] = "200"  # ms: a turn's spans arrive soon after it
        services.env = env

        with progress.step("Temporal dev server and Redis"):
            ui_port = urlparse(settings.temporal.ui_url).port or 8233
            # A history of its own, new each run: calls left running by an earlier demo (a
            # post-call still retrying) would otherwise resume and queue on the one local LLM.
            history = VAR / "demo" / "temporal.db"
            history.parent.mkdir(parents=True, exist_ok=True)
            for stale in history.parent.glob("temporal.db*"):
                stale.unlink()
            services.spawn(
                "temporal",
                dev_server_command(
                    history,
                    port=int(temporal_port),
                    ui_port=ui_port,
                    ip=host,
                    codec_endpoint=f"{api_url}/codec",
                ),
            )
            redis_url = urlparse(settings.redis.url)
            redis_host, redis_port = redis_url.hostname or "127.0.0.1", redis_url.port or 6379
            if answers(redis_host, redis_port):
                progress.say(f"    redis already answers on {redis_host}:{redis_port}; using it")
            else:
                redis_process = RedisProcess(port=redis_port, workdir=VAR).start()
                progress.say(f"    redis started on {redis_host}:{redis_port}")
            services.wait(
                "temporal",
                lambda: port_open(host, int(temporal_port)),
                90,
                tick=progress.tick("Temporal"),
            )
        with progress.step("LLM server" + (" (scripted)" if scripted_llm else " (llama.cpp)")):
            _start_llm(services, progress, ports, scripted_llm)
        with progress.step("ACS emulator, media gateway (loads speech models), worker, API"):
            services.spawn("acs-emulator", emulator_command(api_url, ports.emulator))
            services.spawn("media-gateway", [sys.executable, "-m", "media_gateway"])
            services.spawn("worker", [sys.executable, "-m", "worker"])
            services.spawn("api", [sys.executable, "-m", "api.main"])
            services.wait(
                "api",
                lambda: http_ok(f"{api_url}/health/readiness"),
                90,
                tick=progress.tick("the API"),
            )
            services.wait("acs-emulator", lambda: port_open("127.0.0.1", ports.emulator), 30)
            services.wait(
                "media-gateway",
                lambda: port_open("127.0.0.1", settings.telephony.gateway_port),
                120,
                tick=progress.tick("the media gateway"),
            )
        progress.say(f"    Temporal UI  {settings.temporal.ui_url}  (decrypted by {api_url}/codec)")
        progress.say(f"    API          {api_url}/docs")
        progress.say(f"    logs         {services.logs}/")
        _demo_flags(settings.redis.url)
        with progress.step("demo call (a scripted caller with a synthesised voice)"):
            result = asyncio.run(
                _place_call(
                    api_url, f"http://127.0.0.1:{ports.emulator}", services, progress, collector
                )
            )
        _print_result(progress, result, api_url)
        if sys.stdin.isatty():
            progress.say(
                f"==> softphone     http://127.0.0.1:{ports.emulator}/softphone"
                "  (call the bot yourself: type a number, Use, Call the bot)"
            )
            input("Services are still up: browse the report and the Temporal UI. Enter stops. ")
        return 0 if result.call.get("synthesis") else 1
    except (ServiceFailed, RuntimeError) as exc:
        progress.say(f"demo failed: {exc}")
        return 1
    except KeyboardInterrupt:
        progress.say("\nstopping")
        return 130
    finally:
        progress.say("==> stopping what the demo started")
        services.stop()
        if redis_process is not None:
            redis_process.stop()


def _demo_flags(redis_url: str) -> None:
    """The demo's own flags: a dropped demo call is closed (and summarised) at once."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        # A small local model on a laptop is slower than a hosted one: more time per answer.
        client.hset(
            DEMO_FLAGS_KEY,
            mapping={"callback_timeout_hour": "0", "answer_hard_timeout_sec": "40"},
        )
    finally:
        client.close()


def _models(progress: Progress, scripted_llm: bool) -> str:
    """Assemble (or find cached) the speech models and the LLM; returns the LLM's name."""
    from providers.speech import models

    for bundle in models.BUNDLES:
        directory = models.ensure(bundle, progress=lambda m: progress.say(f"    {m}"))
        progress.say(f"    {bundle.name}: ready in {directory}")
    if scripted_llm:
        return "scripted"
    from core.llm_server import MODEL_ALIAS, local_llm_model

    path = local_llm_model(progress=lambda m: progress.say(f"    {m}"))
    progress.say(f"    LLM: {path.name} ({path.stat().st_size / 1e6:.0f} MB)")
    return MODEL_ALIAS


def _start_llm(services: Services, progress: Progress, ports: DemoPorts, scripted: bool) -> None:
    base = f"http://127.0.0.1:{ports.llm}"
    if scripted:
        services.spawn(
            "llm",
            [sys.executable, "-m", "scripted_llm", "--host", "127.0.0.1",
             "--port", str(ports.llm), "--script", str(DEMO_SCRIPT)],
        )  # fmt: skip
    else:
        from core.llm_server import llm_server_command, local_llm_model

        services.spawn(
            "llm", llm_server_command(local_llm_model(), host="127.0.0.1", port=ports.llm)
        )
    services.wait(
        "llm", lambda: http_ok(f"{base}/v1/models"), 180, tick=progress.tick("the LLM server")
    )


async def _place_call(
    api_url: str,
    emulator_url: str,
    services: Services,
    progress: Progress,
    collector: SpanCollector | None,
) -> DemoResult:
    from cli.demo_call import DemoCall
    from providers.speech.models import piper_voice
    from providers.speech.piper_tts import PiperTts

    # The caller's voice without Piper's sampled noise: the same words are the same audio on
    # every run, so what Whisper hears (a policy number, digit by digit) is reproducible.
    tts = PiperTts(*piper_voice(), threads=1, noise_scale=0.0, noise_w_scale=0.0)
    if collector is not None:
        await collector.start()
    try:
        async with (
            httpx.AsyncClient(base_url=api_url, timeout=30) as api,
            EmulatorClient(emulator_url) as phones,
        ):
            call = DemoCall(api, phones, tts, CUSTOMER, progress.say)
            task = asyncio.create_task(call.run())
            while not task.done():
                try:
                    services.check()
                except ServiceFailed:
                    task.cancel()
                    raise
                await asyncio.wait({task}, timeout=1.0)
            result = task.result()
        if collector is not None:
            result.timings = await _timings(collector, result)
        return result
    finally:
        if collector is not None:
            await collector.stop()


async def _timings(collector: SpanCollector, result: DemoResult) -> list[str]:
    """The breakdown per turn, once every measured turn's spans arrived (or after 5 s)."""
    deadline = time.monotonic() + 5
    turns = turn_timings(collector.spans, result.call_id)
    while len(turns) < len(result.voice_to_voice_ms) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        turns = turn_timings(collector.spans, result.call_id)
    return timing_table(turns) if turns else []


def _print_result(progress: Progress, result: DemoResult, api_url: str) -> None:
    call = result.call
    progress.say("")
    progress.say("==> the claim")
    for name, value in (call.get("claim") or {}).items():
        progress.say(f"    {name:24} {value if value not in (None, '') else '—'}")
    synthesis = call.get("synthesis")
    if synthesis:
        progress.say("==> synthesis")
        progress.say(f"    {synthesis['short']} (satisfaction: {synthesis['satisfaction']})")
        for line in str(synthesis["long"]).splitlines():
            progress.say(f"    {line}")
    nxt = call.get("next")
    if nxt:
        progress.say(f"==> next action: {nxt['action']} — {nxt['justification']}")
    progress.say(f"==> {result.latency_line()}")
    if result.timings:
        progress.say("    where each turn's time went (ms after the end of the caller's speech;")
        progress.say("    a silence ends the turn, STT wait is the transcription left after it):")
        for line in result.timings:
            progress.say(f"    {line}")
    progress.say(f"==> report       {api_url}/report/{result.call_id}")
    progress.say(f"==> Temporal UI  {result.temporal_ui_url}")
    progress.say(f"    (total {time.monotonic() - progress.started:.0f} s)")
