"""Voice-to-voice latency of a phone call: the caller stops talking → the bot's voice is heard.

Everything runs in this process, as in `tests/telephony/test_spoken_call.py`: the tuned
Temporal dev server, a private Redis, the scripted LLM, the ACS emulator (the phone), the
worker, the API and the media gateway (see `bench/_voice_stack.py`). One call per setup and
profile; the caller says M sentences, each after the bot went quiet and a pause; the scripted
LLM answers each with the same short reply.

Setups (the engines handed to the gateway):
  local  Silero VAD + Whisper base int8 + Piper, as in production;
  fake   zero-cost engines: energy VAD (20 ms frames), an STT that returns the known text at
         once, a TTS that returns a 0.3 s tone at once: what is left is pipeline overhead.
Profiles (the scripted LLM's reply):
  instant    whole reply at once;
  realistic  0.35 s to the first byte, then 20 characters per 50 ms (Qwen 1.5B on 2 cores,
             `/work/shared/reference/offline-models.md`).

Timestamps, all `time.time()` on this machine:
  speech end   the emulator's real-time send loop takes the caller's last voiced frame (the
               synthesised sentence is trimmed of leading/trailing silence and left-padded to
               whole 20 ms frames, so that frame ends on the last voiced sample; a frame is sent
               when its 20 ms have "elapsed", as a real phone does);
  STT start/end   the gateway's STT engine, wrapped (it starts ~200 ms into the caller's
               silence, so that the transcript is ready when the silence timeout ends the turn);
  turn sent    the gateway's `user_turn` update to the workflow, wrapped;
  LLM request  `received_at` recorded by the scripted LLM server;
  sentence     the Redis stream entry id of the turn's first sentence (ms, Redis clock);
  TTS start / first chunk   the gateway's TTS engine, wrapped (start = the gateway read the
               sentence and began synthesising it);
  first frame / heard   the phone's media socket handler, wrapped: the first bot frame
               after the speech end, and the first one above -50 dBFS RMS.
Stages (consecutive differences, so they add up to the total):
  endpoint  speech end → turn sent: VAD hangover (`vad_silence_timeout_ms`) + VAD lag, plus
            whatever part of the STT did not fit in the hangover;
  orchestr  turn sent → LLM request received: update to the workflow, workflow task, activity;
  llm       LLM request → first sentence in Redis (reply delay + streaming + sentence split);
  read      sentence in Redis → the gateway starts its synthesis (XREAD wake-up);
  tts       TTS start → first audio chunk;
  deliver   first chunk → first frame at the phone: resampling, framing, pacing, WebSocket;
  lead      first frame → first audible frame (the TTS's leading silence);
  total     speech end → first audible bot frame (voice-to-voice).

    python bench/voice_latency.py [--turns 8] [--setups local fake] [--profile instant realistic]
                                   [--adaptive]  (the adaptive end of turn on; default off)
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import local_engines, pct, run, wait_until  # noqa: E402
from bench._voice_stack import (
    EnergyVad,
    KnownStt,
    PhoneTap,
    Probe,
    ToneTts,
    VoiceStack,
    caller_noise,
    open_stack,
)
from domain.contracts import TurnReply, UserTurn
from domain.flags import FeatureFlags
from media_gateway.control import TemporalCallControl
from media_gateway.engines import Engines, resample
from providers.flags.redis_flags import RedisFlags
from providers.sentences.redis_stream import RedisSentenceStream
from scripted_llm.script import ScriptedReply

RATE = 16_000  # the call's audio (pcm16k)
FRAME_BYTES = RATE * 2 // 50
# Numbered: every answer is a new sentence, as an LLM's are, so the gateway's phrase cache
# (which replays sentences it has already synthesised) never answers for Piper.
REPLY = "I see, thank you, note {n}. Where exactly did it happen?"
REPLY_NUMBERS = itertools.count(1)
CALLER = [
    "My car was stolen yesterday.",
    "It was parked in front of my house.",
    "The police already have the report.",
    "It is a small blue Renault with a broken mirror.",
]
PROFILES = {
    "instant": {},
    "realistic": {"delay_s": 0.35, "chunk_chars": 20, "chunk_delay_s": 0.05},
}
STAGES = ["endpoint", "orchestr", "llm", "read", "tts", "deliver", "lead", "total"]
# Printed beside the stages, not part of their sum: the STT ran within the endpoint stage.
INFO = ["stt", "stt after end"]
GAP_S = 1.0  # silence between the bot going quiet and the caller's next sentence
QUIET_S = 0.8  # no bot frame for this long: the bot finished speaking


TURNS_SENT: list[float] = []  # time.time() of every `user_turn` update the gateway sent
_send_turn = TemporalCallControl.user_turn


async def _timed_send_turn(
    self: TemporalCallControl, turn: UserTurn, accepted: Callable[[], None] | None = None
) -> TurnReply | None:
    TURNS_SENT.append(time.time())
    return await _send_turn(self, turn, accepted)


TemporalCallControl.user_turn = _timed_send_turn  # type: ignore[method-assign]  # bench probe


def trim(pcm: bytes, rate: int, level: float = 0.01) -> bytes:
    """Cut leading/trailing silence (10 ms windows under `level` RMS), pad to whole frames."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    win = rate // 100
    n = len(samples) // win
    loud = np.sqrt((samples[: n * win].reshape(n, win) ** 2).mean(axis=1)) >= level
    idx = np.flatnonzero(loud)
    first, last = int(idx[0]) * win, (int(idx[-1]) + 1) * win
    # Last voiced sample: the last one above the level inside the last loud window.
    tail = np.flatnonzero(np.abs(samples[first:last]) >= level)
    out = pcm[first * 2 : (first + int(tail[-1]) + 1) * 2]
    return bytes(-len(out) % FRAME_BYTES) + out


async def synthesise_callers(engines: Engines) -> list[bytes]:
    out = []
    for text in CALLER:
        voice = b"".join([c async for c in engines.tts.synthesize(text)])
        out.append(trim(resample(voice, engines.tts.sample_rate, RATE), RATE))
    # Warm-up: the first Whisper decode and Piper render are slow.
    await engines.stt.transcribe(resample(out[0], RATE, engines.stt.sample_rate), language="en-US")
    return out


@dataclass
class Turn:
    speech_end: float
    text: str


async def run_call(
    stack: VoiceStack,
    probe: Probe,
    callers: list[bytes],
    texts: list[str],
    turns: int,
    profile: str,
    silence_s: float,
) -> tuple[list[dict[str, float]], list[str]]:
    call_id, connection_id = await stack.call()
    tap: PhoneTap = await stack.tap(connection_id)
    # The greeting first: wait until it was spoken and the line went quiet.
    await wait_until(lambda: bool(tap.received), 30, "the greeting")
    await wait_until(lambda: tap.quiet_for(QUIET_S), 60, "the end of the greeting")
    done: list[Turn] = []
    fake_stt = probe.current.stt if isinstance(probe.current.stt, KnownStt) else None
    for k in range(turns):
        await asyncio.sleep(GAP_S)
        i = k % len(callers)
        if fake_stt is not None:
            fake_stt.text = texts[i]
        ends = len(tap.voice_end)
        reply = REPLY.format(n=next(REPLY_NUMBERS))
        stack.llm.state.add(ScriptedReply(text=reply, **PROFILES[profile]), user=call_id)
        await stack.acs.client.play_audio(connection_id, callers[i], RATE)
        await wait_until(lambda n=ends: len(tap.voice_end) > n, 30, "the caller's speech")
        end = tap.voice_end[-1]
        await wait_until(lambda e=end: tap.first_frame_after(e, True) is not None, 30, "answer")
        await wait_until(lambda: tap.quiet_for(QUIET_S), 60, "the end of the answer")
        done.append(Turn(end, texts[i]))
    await stack.hang_up(connection_id)
    entries = await RedisSentenceStream(stack.redis).read(call_id, count=1000)
    sentences = [int(eid.split("-")[0]) / 1000 for eid, e in entries if e.kind == "sentence"]
    requests = [r.received_at for r in stack.llm.state.requests(call_id)]
    rows, heard = [], []
    for turn in done:
        sent = next(t for t in TURNS_SENT if t > turn.speech_end)
        # The transcription that made the turn: the last one done before it was sent.
        stt = [c for c in probe.stt_calls if turn.speech_end < c.start and c.end <= sent][-1]
        llm = next(t for t in requests if t > sent)
        sentence = next(t for t in sentences if t >= llm - 0.001)
        tts = next(c for c in probe.tts_calls if c.start >= llm)
        first = tap.first_frame_after(turn.speech_end)
        audible = tap.first_frame_after(turn.speech_end, audible=True)
        assert first is not None and audible is not None
        marks = [
            turn.speech_end, sent, llm, sentence, tts.start, tts.first_chunk, first, audible,
        ]  # fmt: skip
        row = {name: (b - a) * 1000 for name, a, b in zip(STAGES, marks, marks[1:], strict=False)}
        row["total"] = (audible - turn.speech_end) * 1000
        row["stt"] = (stt.end - stt.start) * 1000
        # Past the end of the turn (the silence timeout): what the early start did not hide.
        ended = turn.speech_end + silence_s
        row["stt after end"] = max(stt.end - ended, 0.0) * 1000
        rows.append(row)
        heard.append(stt.text)
    return rows, heard


def print_table(title: str, rows: list[dict[str, float]]) -> None:
    print(f"\n{title}  ({len(rows)} turns, ms)")
    print(f"  {'stage':<10}{'p50':>8}{'p95':>8}{'min':>8}{'max':>8}")
    for name in [*STAGES, *INFO]:
        if name in INFO and name == INFO[0]:
            print("  (within endpoint)")
        values = [r[name] for r in rows]
        print(
            f"  {name:<10}{pct(values, 0.5):8.0f}{pct(values, 0.95):8.0f}"
            f"{min(values):8.0f}{max(values):8.0f}"
        )


async def measure(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.ERROR)
    engines = {}
    if "local" in args.setups:
        print("loading Silero, Whisper and Piper…", flush=True)
        engines["local"] = local_engines()
    if "fake" in args.setups:
        engines["fake"] = Engines(vad=EnergyVad, stt=KnownStt(), tts=ToneTts())
    callers: dict[str, list[bytes]] = {}
    if "local" in engines:
        callers["local"] = await synthesise_callers(engines["local"])
    callers["fake"] = [caller_noise(1.2 + 0.2 * i, RATE) for i in range(len(CALLER))]
    probe = Probe(current=next(iter(engines.values())))
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    work = Path(tempfile.mkdtemp(prefix="bench-voice-"))
    async with AsyncExitStack() as stack:
        print("starting the stack (dev server, Redis, LLM, emulator, worker, API, gateway)…")
        voice = await open_stack(work, probe.engines(), stack)
        store = RedisFlags(voice.redis, key=voice.settings.flags.redis_key, ttl_sec=0)
        await store.set("adaptive_end_of_turn", "true" if args.adaptive else "false")
        flags = await store.get()
        silence_ms = flags.vad_silence_timeout_ms
        print(
            f"vad_silence_timeout_ms={silence_ms} (default {FeatureFlags().vad_silence_timeout_ms})"
            f", adaptive_end_of_turn={flags.adaptive_end_of_turn}"
            f", caller audio pcm16k, {args.turns} turns per call"
        )
        for setup in args.setups:
            probe.current = engines[setup]
            for profile in args.profile:
                started = time.monotonic()
                rows, heard = await run_call(
                    voice, probe, callers[setup if setup in callers else "fake"], CALLER,
                    args.turns, profile, silence_ms / 1000,
                )  # fmt: skip
                results[setup, profile] = rows
                print_table(f"{setup} / {profile}", rows)
                if args.per_turn:
                    for k, row in enumerate(rows, 1):
                        cells = " ".join(f"{n}={row[n]:.0f}" for n in [*STAGES, *INFO])
                        print(f"  turn {k}: {cells}")
                if setup == "local":
                    print(f"  heard: {heard[: len(CALLER)]}")
                print(f"  ({time.monotonic() - started:.0f} s)", flush=True)
    print("\nsummary")
    for (setup, profile), rows in results.items():
        totals = [r["total"] for r in rows]
        line = f"  {setup:<6}{profile:<10} voice-to-voice p50 {pct(totals, 0.5):6.0f} ms"
        if setup == "local":
            ok = "met" if pct(totals, 0.5) <= 1000 else "missed"
            line += f"  (target p50 <= 1000 ms: {ok})"
        else:
            overhead = [t - silence_ms for t in totals]
            llm = [r["llm"] for r in rows]
            line += f"; overhead (total - {silence_ms} ms silence) p95 {pct(overhead, 0.95):.0f} ms"
            if profile == "instant":
                ok = "met" if pct(overhead, 0.95) <= 30 else "missed"
                line += f"  (target p95 <= 30 ms: {ok})"
            else:
                rest = [o - x for o, x in zip(overhead, llm, strict=True)]
                line += f", minus the LLM stage p95 {pct(rest, 0.95):.0f} ms"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=8)
    parser.add_argument("--setups", nargs="+", choices=["local", "fake"], default=["local", "fake"])
    parser.add_argument(
        "--profile", nargs="+", choices=list(PROFILES), default=["instant", "realistic"]
    )
    parser.add_argument("--per-turn", action="store_true", help="print every turn's stages")
    parser.add_argument(
        "--adaptive", action="store_true", help="adaptive end of turn on (bench/end_of_turn.py)"
    )
    run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
