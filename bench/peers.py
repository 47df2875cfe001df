"""Side by side with Pipecat: the same utterances, engines and scripted LLM, in one run.

Both systems get the same caller sentences (synthesised once with our Piper voice, trimmed to
the last voiced sample), the same local engines (Silero VAD, faster-whisper base int8 from the
same model files, Piper en_US-joe-medium) and the same scripted OpenAI-compatible LLM answering
at once. Voice to voice is measured the same way on both: from the caller's last voiced frame
sent to the first audible (> -50 dBFS) bot frame received.

  ours      the whole stack of `bench/voice_latency.py` (Temporal dev server, Redis, worker,
            API, ACS emulator as the phone, media gateway): every turn is a durable update;
            with the fixed 500 ms silence, and with the adaptive end of turn;
  pipecat   `bench/_peer_pipecat.py` in its own virtual environment (pipecat-ai 1.14.0 with
            its silero, whisper, piper, websocket and openai extras): a FastAPI WebSocket
            carrying raw PCM; Pipecat's default turn stop (smart-turn v3 after 0.2 s of VAD
            silence), and a fixed 0.5 s silence like ours.

CPU per call-second: CPU time of every process serving the call (ours: the bench process that
holds the worker, API, gateway, emulator and scripted LLM, plus the Temporal dev server and
Redis; Pipecat: its server plus the scripted LLM server), over the turns only, divided by the
seconds of call audio. Our figure includes the emulated phone; Pipecat's excludes its caller.

    .venv/bin/python bench/peers.py [--turns 8] [--pipecat-venv var/pipecat-venv]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._report import pct  # noqa: E402
from core.redis_server import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RATE = 16_000
FRAME = RATE * 2 // 50  # 20 ms of PCM16
AUDIBLE = 32768 * 10 ** (-50 / 20)  # -50 dBFS RMS
GAP_S = 1.0
QUIET_S = 0.8
REPLY = "I see, thank you. Where exactly did it happen?"


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) of these processes and all their descendants."""
    total = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                with_times = p.cpu_times()
                total += with_times.user + with_times.system
        except psutil.NoSuchProcess:
            continue
    return total


# --- the caller's sentences ------------------------------------------------------------------


async def synthesise(folder: Path) -> list[Path]:
    from bench._report import local_engines
    from bench.voice_latency import CALLER, trim
    from media_gateway.engines import resample

    engines = local_engines()
    paths = []
    for i, text in enumerate(CALLER):
        voice = b"".join([c async for c in engines.tts.synthesize(text)])
        path = folder / f"caller{i}.pcm"
        path.write_bytes(trim(resample(voice, engines.tts.sample_rate, RATE), RATE))
        paths.append(path)
    return paths


# --- ours: a child process running voice_latency's stack -------------------------------------


async def run_ours(args: argparse.Namespace) -> None:
    """In the child: one call of `--turns` turns; prints BEGIN/END markers and a JSON line."""
    import logging
    from contextlib import AsyncExitStack

    from bench import voice_latency as vl
    from bench._report import local_engines
    from bench._voice_stack import Probe, open_stack
    from providers.flags.redis_flags import RedisFlags

    logging.basicConfig(level=logging.ERROR)
    files = sorted(Path(args.callers).glob("caller*.pcm"))  # noqa: ASYNC240  # before any call
    callers = [f.read_bytes() for f in files]  # noqa: ASYNC240
    engines = local_engines()
    await engines.stt.transcribe(callers[0], language="en-US")  # warm-up, as in voice_latency
    probe = Probe(current=engines)
    work = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    async with AsyncExitStack() as stack:
        voice = await open_stack(work, probe.engines(), stack)
        flags = RedisFlags(voice.redis, key=voice.settings.flags.redis_key, ttl_sec=0)
        await flags.set("adaptive_end_of_turn", "true" if args.adaptive else "false")
        silence_s = (await flags.get()).vad_silence_timeout_ms / 1000
        print("BEGIN", flush=True)
        started = time.monotonic()
        rows, heard = await vl.run_call(
            voice, probe, callers, vl.CALLER[: len(callers)], args.turns, "instant", silence_s
        )
        call_s = time.monotonic() - started
        print("END", flush=True)
    totals = [r["total"] for r in rows]
    print(json.dumps({"totals": totals, "call_s": call_s, "heard": heard}), flush=True)


def measure_ours(callers: Path, turns: int, adaptive: bool) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--side", "ours", "--callers", str(callers)]
    argv += ["--turns", str(turns)] + (["--adaptive"] if adaptive else [])
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    cpu: dict[str, float] = {}
    result: dict[str, Any] = {}
    for line in proc.stdout:
        if line.strip() in ("BEGIN", "END"):
            cpu[line.strip()] = tree_cpu([proc.pid])
        elif line.startswith("{"):
            result = json.loads(line)
    if proc.wait() != 0 or not result:
        raise RuntimeError(f"our side failed (exit {proc.returncode})")
    result["cpu_s"] = cpu["END"] - cpu["BEGIN"]
    return result


# --- pipecat: its server in its own venv, our caller over a WebSocket ------------------------


async def pipecat_call(
    port: int, callers: list[bytes], turns: int, cpu: Callable[[], float]
) -> tuple[list[float], float, float]:
    """One call: the caller streams 20 ms frames in real time (silence between sentences, as a
    phone does). Its first turn warms Whisper and Piper up (ours loads its engines before any
    call) and is not counted. Voice to voice per turn, the call's length and its CPU seconds."""
    import aiohttp

    received: list[tuple[float, bytes]] = []
    voiced_sent: list[float] = []  # when each caller frame left
    outgoing: asyncio.Queue[bytes] = asyncio.Queue()
    totals: list[float] = []
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"ws://127.0.0.1:{port}/ws", max_msg_size=0) as ws,
    ):

        async def send() -> None:
            silence = bytes(FRAME)
            next_at = time.monotonic()
            while True:
                voiced = not outgoing.empty()
                await ws.send_bytes(outgoing.get_nowait() if voiced else silence)
                if voiced:
                    voiced_sent.append(time.time())
                next_at += 0.02
                await asyncio.sleep(max(next_at - time.monotonic(), 0))

        async def receive() -> None:
            async for message in ws:
                if message.type is aiohttp.WSMsgType.BINARY:
                    received.append((time.time(), message.data))

        tasks = [asyncio.create_task(send()), asyncio.create_task(receive())]

        def quiet_for(seconds: float) -> bool:
            return not received or received[-1][0] < time.time() - seconds

        await asyncio.sleep(2.0)  # the pipeline starts
        started, cpu_before = time.monotonic(), cpu()
        for k in range(-1, turns):  # turn -1: the warm-up
            if k == 0:
                totals.clear()
                started, cpu_before = time.monotonic(), cpu()
            await asyncio.sleep(GAP_S)
            pcm = callers[k % len(callers)]
            sent = len(voiced_sent) + (len(pcm) + FRAME - 1) // FRAME
            for i in range(0, len(pcm), FRAME):
                outgoing.put_nowait(pcm[i : i + FRAME].ljust(FRAME, b"\0"))
            while len(voiced_sent) < sent:  # noqa: ASYNC110  # paced by the sender
                await asyncio.sleep(0.005)
            # The sentence is trimmed at its last voiced sample: its last frame ends the speech.
            speech_end = voiced_sent[-1]
            deadline = time.monotonic() + 30
            audible_at = None
            while audible_at is None and time.monotonic() < deadline:
                for at, chunk in received:
                    if at > speech_end and _rms(chunk) > AUDIBLE:
                        audible_at = at
                        break
                await asyncio.sleep(0.01)
            if audible_at is None:
                if k < 0:
                    continue  # the warm-up may be lost in the engines' loading
                raise RuntimeError(f"pipecat did not answer turn {k + 1}")
            totals.append((audible_at - speech_end) * 1000)
            while not quiet_for(QUIET_S):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        call_s, cpu_s = time.monotonic() - started, cpu() - cpu_before
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return totals, call_s, cpu_s


def _rms(chunk: bytes) -> float:
    samples = np.frombuffer(chunk[: len(chunk) // 2 * 2], dtype="<i2").astype(np.float32)
    return float(np.sqrt((samples**2).mean())) if len(samples) else 0.0


def measure_pipecat(
    python: str, callers: list[bytes], turns: int, turn_stop: str
) -> dict[str, Any]:
    from providers.speech.models import piper_voice, whisper_base_dir

    work = Path(tempfile.mkdtemp(prefix="bench-pipecat-"))
    script = work / "script.json"
    script.write_text(json.dumps({"default": {"text": REPLY}}))
    llm_port, port = free_port(), free_port()
    llm = subprocess.Popen(
        [sys.executable, "-m", "scripted_llm", "--port", str(llm_port), "--script", str(script)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    model, _config = piper_voice()
    server = subprocess.Popen(
        [
            python, str(ROOT / "bench/_peer_pipecat.py"), "--port", str(port),
            "--llm-url", f"http://127.0.0.1:{llm_port}/v1", "--whisper-dir",
            str(whisper_base_dir()), "--piper-dir", str(model.parent),
            "--voice", model.stem, "--turn-stop", turn_stop,
        ],
        cwd=work, env={**os.environ, "PYTHONPATH": ""},
    )  # fmt: skip
    try:
        import httpx

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if server.poll() is not None:
                    raise RuntimeError("the Pipecat server exited") from None
                time.sleep(0.3)
        totals, call_s, cpu_s = asyncio.run(
            pipecat_call(port, callers, turns, lambda: tree_cpu([server.pid, llm.pid]))
        )
    finally:
        for proc in (server, llm):
            proc.terminate()
            proc.wait(10)
    return {"totals": totals, "call_s": call_s, "cpu_s": cpu_s}


PIPECAT_REQUIREMENTS = ["pipecat-ai[silero,whisper,piper,websocket,openai]==1.14.0", "uvicorn"]


def pipecat_python(venv: Path) -> str:
    """Pipecat pins its own versions: it gets a virtual environment of its own, made once."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"installing Pipecat into {venv} (once)…", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *PIPECAT_REQUIREMENTS], check=True
        )
    return str(python)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--pipecat-venv", type=Path, default=ROOT / "var" / "pipecat-venv")
    parser.add_argument("--side", choices=["ours"], help=argparse.SUPPRESS)
    parser.add_argument("--callers", help=argparse.SUPPRESS)
    parser.add_argument("--adaptive", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "ours":
        asyncio.run(run_ours(args))
        return
    python = pipecat_python(args.pipecat_venv)
    folder = Path(tempfile.mkdtemp(prefix="bench-callers-"))
    print("synthesising the caller's sentences…", flush=True)
    paths = asyncio.run(synthesise(folder))
    callers = [p.read_bytes() for p in paths]
    runs: dict[str, dict[str, Any]] = {}
    for name, adaptive in (("ours, 500 ms silence", False), ("ours, adaptive", True)):
        print(f"{name}…", flush=True)
        runs[name] = measure_ours(folder, args.turns, adaptive)
    for name, stop in (
        ("pipecat, smart-turn v3", "default"),
        ("pipecat, 500 ms silence", "silence"),
    ):
        print(f"{name}…", flush=True)
        runs[name] = measure_pipecat(python, callers, args.turns, stop)
    print(f"\nvoice to voice over {args.turns} turns (ms) and CPU per call-second")
    print("| system | p50 | p95 | CPU s per call-s |")
    print("|---|---|---|---|")
    for name, r in runs.items():
        t = r["totals"]
        print(
            f"| {name} | {pct(t, 0.5):.0f} | {pct(t, 0.95):.0f} | {r['cpu_s'] / r['call_s']:.3f} |"
        )
    ours, peer = runs["ours, 500 ms silence"], runs["pipecat, 500 ms silence"]
    print(
        f"\nsame 500 ms silence, ours / pipecat: p50 "
        f"{pct(ours['totals'], 0.5) / pct(peer['totals'], 0.5):.2f}, CPU "
        f"{(ours['cpu_s'] / ours['call_s']) / (peer['cpu_s'] / peer['call_s']):.2f}"
    )


if __name__ == "__main__":
    main()
