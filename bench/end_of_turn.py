"""Adaptive end of turn: cut-offs and the end-of-turn delay on 64 spoken utterances with natural
pauses, the flag `adaptive_end_of_turn` off and on, then voice to voice through the whole stack.

The utterances are synthesised by Piper (noise off: the same audio every time), one piece per
stretch of speech, joined by the pauses written in the text ("My car was <350> stolen."); the
pieces are cached under `~/.cache/callcenter/bench/end_of_turn/`. Every pause is a point where
the caller is not done (labelled incomplete); every utterance ends complete. Kinds:
  complete      statements, questions and short answers, no pause;
  mid-sentence  a pause after a word that continues ("and", "the", "because"): 300-450 ms;
  um            a pause after a hesitation ("um", "uh"): 500-900 ms;
  number        digits, letters or an address dictated in groups: 500-800 ms;
  clause        a pause after a clause that looks complete ("I was on the highway <300> when
                ..."): 250-350 ms; the hard case for an early end.

Parts (`--parts`):
  verdicts  Whisper on the audio the early transcript gets at every pause and every end, and
            `end_of_turn.judge` on it: the decisions, whatever the load does to the timing;
  cutoffs   each utterance played in real time (20 ms frames) into a `CallSession` with the
            local engines (Silero VAD, Whisper base, Piper), a workflow stand-in recording the
            turns and a private Redis; flag off, then on. A cut-off is an utterance sent as
            more than one turn (the first one sent before the caller's last word); the
            end-of-turn delay runs from the last voiced frame to the last turn sent: the
            silence, whatever of the STT did not fit in it, and any hold;
  v2v       `bench/voice_latency.py`'s call (tuned dev server, Redis, the scripted LLM
            answering at once, the ACS emulator, worker, API and gateway), its four sentences,
            the flag off and on in alternating calls: voice to voice p50 / p95.

    python bench/end_of_turn.py [--parts verdicts cutoffs v2v] [--kinds um number] [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._report import pct, run  # noqa: E402
from domain.contracts import BargeIn, UserTurn  # noqa: E402
from domain.flags import FeatureFlags  # noqa: E402
from media_gateway import end_of_turn  # noqa: E402
from media_gateway.control import CallView  # noqa: E402
from media_gateway.end_of_turn import Verdict  # noqa: E402
from media_gateway.engines import Engines, TextToSpeech, resample  # noqa: E402
from media_gateway.session import CallSession  # noqa: E402

RATE = 16_000
FRAME_S = 0.02
FRAME_BYTES = int(RATE * FRAME_S) * 2
LEAD_S = 0.4  # line silence before the caller speaks
NOISE_LEVEL = 0.001  # a quiet line (-60 dBFS), the same noise every run
# After the last word, at most: the configured silence, a hold (1.5 s) and a slow transcription
# on a loaded box.
TAIL_S = 12.0
CACHE = Path.home() / ".cache" / "callcenter" / "bench" / "end_of_turn"
PAUSE = re.compile(r"\s*<(\d+)>\s*")

# (kind, text with pauses in ms): every pause is mid-turn, every end is the end of the turn.
UTTERANCES: list[tuple[str, str]] = [
    ("complete", "My car was stolen yesterday."),
    ("complete", "I had an accident on the motorway this morning."),
    ("complete", "The other driver did not stop."),
    ("complete", "Nobody was hurt."),
    ("complete", "I would like to report a broken windscreen."),
    ("complete", "It happened in the car park of the supermarket."),
    ("complete", "My name is Jane Miller."),
    ("complete", "The police came twenty minutes later."),
    ("complete", "I have the photos on my phone."),
    ("complete", "It was raining very hard."),
    ("complete", "Can you send me the form by email?"),
    ("complete", "How long will the repair take?"),
    ("complete", "Do I need to call the police?"),
    ("complete", "What happens next?"),
    ("complete", "Is my car covered for theft?"),
    ("complete", "Who should I call for the towing?"),
    ("complete", "Yes."),
    ("complete", "No, thank you."),
    ("complete", "That's right."),
    ("complete", "Yes, I did."),
    ("mid-sentence", "I was driving to work and <350> a van hit the back of my car."),
    ("mid-sentence", "The accident happened on the <300> ring road near the airport."),
    ("mid-sentence", "My daughter was in the car with <400> her friend from school."),
    ("mid-sentence", "I called you because <450> the garage needs a claim number."),
    ("mid-sentence", "The damage is mostly on the <300> left side."),
    ("mid-sentence", "I parked it in front of my <350> house last night."),
    ("mid-sentence", "The windscreen was <400> completely shattered."),
    ("mid-sentence", "We were waiting at the <300> traffic lights."),
    ("mid-sentence", "I think that the <350> other driver was on his phone."),
    ("mid-sentence", "It was late in the evening, so <450> I could not see much."),
    ("mid-sentence", "The van belongs to a <300> delivery company."),
    ("mid-sentence", "I want to know if <400> my policy covers a rental car."),
    ("mid-sentence", "The repair shop said that <350> it will take two weeks."),
    ("mid-sentence", "I was going to <300> pick up my son."),
    ("um", "It happened on, um, <600> Tuesday morning."),
    ("um", "The car is a, uh, <700> a grey Peugeot."),
    ("um", "I think it was, um, <800> around six o'clock."),
    ("um", "Um, <500> I need to report an accident."),
    ("um", "My husband was, uh, <900> driving the car."),
    ("um", "The other car was, um, <650> a black jeep."),
    ("um", "We were coming back from, uh, <750> my mother's house."),
    ("um", "It cost me, um, <600> about two thousand euros."),
    ("um", "The street is called, uh, <800> Victoria Road."),
    ("um", "Um, <550> can I change my appointment?"),
    ("um", "The man was, um, <700> very angry."),
    ("um", "I got the, uh, <850> the email yesterday."),
    (
        "number",
        "My phone number is zero six <600> one two <500> three four <600> five six <500>"
        " seven eight.",
    ),
    ("number", "You can reach me on zero seven <700> nine eight <600> seven six five four."),
    ("number", "The policy number is four seven one <800> two nine three <600> eight five."),
    ("number", "My policy number is B <600> zero one three <700> seven one nine four six."),
    ("number", "The registration is A B <700> one two three <600> C D."),
    ("number", "I live at twenty <500> two Baker Street."),
    ("number", "The postcode is seven five <600> zero one <500> two."),
    ("number", "My email is jane <700> dot miller <600> at example dot com."),
    ("number", "The claim reference is nine nine <800> four one <700> zero three."),
    ("number", "I was born on the twelfth of <600> March, nineteen eighty <500> four."),
    ("number", "The number plate is G <600> K <600> seven one two."),
    ("number", "The bill was one thousand <700> two hundred <500> and fifty euros."),
    ("clause", "I was on the highway <300> when a truck changed lanes."),
    ("clause", "The car is at the garage <300> because it does not start."),
    ("clause", "I called the police <350> and they took my statement."),
    ("clause", "My neighbour saw everything <300> and she can be a witness."),
    ("clause", "The bumper is damaged <250> and the door will not open."),
    ("clause", "I paid for the towing <300> so I would like a refund."),
]
KINDS = ["complete", "mid-sentence", "um", "number", "clause"]
PARTS = ["verdicts", "cutoffs", "v2v"]
SPEEDS = [1.0, 0.9, 1.1]  # Piper's rate, in turn: three speaking speeds


@dataclass(frozen=True)
class Spoken:
    """One utterance's audio at 16 kHz, and where its speech ends."""

    kind: str
    text: str
    pcm: bytes  # lead-in silence, the speech with its pauses; whole 20 ms frames
    speech_end_frame: int  # the frame holding the last voiced sample
    pauses_at: tuple[int, ...] = ()  # byte offsets in `pcm` where each pause begins
    pauses_ms: tuple[int, ...] = ()  # how long each pause is


def pieces(text: str) -> tuple[list[str], list[int]]:
    """ "a <300> b" → (["a", "b"], [300])."""
    parts = PAUSE.split(text)
    return [p.strip() for p in parts[::2]], [int(ms) for ms in parts[1::2]]


def _trim(pcm: bytes, level: float = 0.01) -> bytes:
    """Leading and trailing silence cut (10 ms windows under `level` RMS, at 16 kHz)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    win = RATE // 100
    n = len(x) // win
    loud = np.flatnonzero(np.sqrt((x[: n * win].reshape(n, win) ** 2).mean(axis=1)) >= level)
    if loud.size == 0:
        return b""
    return pcm[int(loud[0]) * win * 2 : (int(loud[-1]) + 1) * win * 2]


def _save(path: Path, data: bytes) -> None:
    """Written whole or not at all (a benchmark stopped midway leaves no half file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{uuid.uuid4().hex[:6]}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _load(path: Path | None) -> bytes | None:
    return path.read_bytes() if path is not None and path.exists() else None


async def _piece(tts: TextToSpeech, text: str, speed: float, cache: Path | None) -> bytes:
    """One stretch of speech, trimmed, at 16 kHz (`cache`: kept there by text, voice, speed)."""
    key = hashlib.sha256(f"{type(tts).__name__}|{speed}|{text}".encode()).hexdigest()[:20]
    path = cache / f"{key}.pcm" if cache is not None else None
    speech = _load(path)
    if speech is None:
        voice = b"".join([c async for c in tts.synthesize(text, rate=speed)])
        speech = _trim(resample(voice, tts.sample_rate, RATE))
        if path is not None:
            _save(path, speech)
    return speech


async def compose(
    tts: TextToSpeech, kind: str, text: str, speed: float = 1.0, *, cache: Path | None = CACHE
) -> Spoken:
    """The utterance, synthesised piece by piece, joined by its pauses."""
    texts, pauses = pieces(text)
    chunks = [await _piece(tts, piece, speed, cache) for piece in texts]
    speech = b""
    ends: list[int] = []
    for k, chunk in enumerate(chunks):
        speech += chunk
        if k < len(pauses):
            ends.append(len(speech))
            speech += bytes(round(pauses[k] / 1000 * RATE) * 2)
    lead = bytes(round(LEAD_S * RATE) * 2)
    lead += bytes(-(len(lead) + len(speech)) % FRAME_BYTES)  # the speech ends on a frame's end
    pcm = lead + speech
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    noise = np.random.default_rng(7).normal(0, NOISE_LEVEL * 32767, samples.size)
    pcm = np.clip(samples + noise, -32768, 32767).astype("<i2").tobytes()
    pauses_at = tuple(len(lead) + end for end in ends)
    return Spoken(kind, text, pcm, len(pcm) // FRAME_BYTES - 1, pauses_at, tuple(pauses))


@dataclass
class Recorder:
    """The workflow's side of the session: turns recorded with their time, nothing else."""

    turns: list[tuple[float, UserTurn]] = field(default_factory=list)

    async def view(self) -> CallView:
        return CallView(last_turn_id=0, lang="en-US")

    async def user_turn(self, turn: UserTurn, accepted: Callable[[], None] | None = None) -> None:
        self.turns.append((time.monotonic(), turn))
        if accepted is not None:
            accepted()

    async def barge_in(self, event: BargeIn) -> None:
        del event

    async def caller_silent(self) -> None:
        pass


@dataclass
class Heard:
    """What the gateway made of one utterance."""

    spoken: Spoken
    adaptive: bool
    turns: list[str]
    cut_off: bool  # more than one turn: one was sent before the caller's last word
    end_ms: float | None  # last voiced frame → the last turn (None: no turn after it)
    verdicts: list[Verdict]
    end_silences_ms: list[float]


async def _discard(message: str) -> None:
    del message


def _flags(adaptive: bool, silence_ms: int, short_ms: int) -> Callable[[], Awaitable[FeatureFlags]]:
    async def flags() -> FeatureFlags:
        return FeatureFlags(
            adaptive_end_of_turn=adaptive,
            vad_silence_timeout_ms=silence_ms,
            adaptive_silence_ms=short_ms,
        )

    return flags


async def hear(
    engines: Engines,
    redis: Redis,
    spoken: Spoken,
    *,
    adaptive: bool,
    silence_ms: int = FeatureFlags().vad_silence_timeout_ms,
    short_ms: int = FeatureFlags().adaptive_silence_ms,
    tail_s: float = TAIL_S,
) -> Heard:
    """Play `spoken` into a fresh session in real time (`silence_ms`: the configured silence
    that ends a turn), then up to `tail_s` of silence; the turns it sent."""
    control = Recorder()
    session = CallSession(
        f"eot-{uuid.uuid4().hex[:8]}",
        control=control,
        engines=engines,
        redis=redis,
        send=_discard,
        sample_rate=RATE,
        flags=_flags(adaptive, silence_ms, short_ms),
    )
    await session.start()
    frames = [spoken.pcm[i : i + FRAME_BYTES] for i in range(0, len(spoken.pcm), FRAME_BYTES)]
    silence = bytes(FRAME_BYTES)
    speech_end = 0.0
    try:
        start = time.monotonic()
        for k in range(len(frames) + round(tail_s / FRAME_S)):
            # A phone sends each frame once its 20 ms have passed.
            wait = start + (k + 1) * FRAME_S - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await session.feed(frames[k] if k < len(frames) else silence)
            if k == spoken.speech_end_frame:
                speech_end = time.monotonic()
            # Done once the session holds none of the caller's words any more (none being
            # heard, transcribed, held or sent: `marks.hearing`), however slow the STT.
            assert session.marks is not None
            if speech_end and not session.marks.hearing:
                break
    finally:
        await session.close()
    last = control.turns[-1][0] if control.turns else 0.0
    return Heard(
        spoken,
        adaptive,
        [t.text for _, t in control.turns],
        len(control.turns) > 1,  # one utterance made two turns: the first one cut it
        (last - speech_end) * 1000 if speech_end and last >= speech_end else None,
        list(session.detector.verdicts),
        list(session.detector.end_silences_ms),
    )


def _row(label: str, results: list[Heard]) -> str:
    cells = [f"{label:<13}{len(results) // 2:>4}"]
    for adaptive in (False, True):
        mine = [r for r in results if r.adaptive is adaptive]
        cut = sum(r.cut_off for r in mine)
        ends = [r.end_ms for r in mine if r.end_ms is not None and not r.cut_off]
        p50 = f"{pct(ends, 0.5):6.0f}" if ends else "     -"
        p95 = f"{pct(ends, 0.95):6.0f}" if ends else "     -"
        cells.append(f"{cut:>4} ({100 * cut / max(len(mine), 1):4.1f} %) {p50} {p95}")
    return "  ".join(cells)


def print_cutoffs(results: list[Heard]) -> None:
    print("\ncut-offs and end-of-turn delay (last voiced frame → turn sent, ms)")
    print(f"{'':<13}{'':>4}  {'fixed silence (flag off)':<27}  adaptive (flag on)")
    print(f"{'kind':<13}{'n':>4}  {'cut-offs      p50    p95':<27}  cut-offs      p50    p95")
    for kind in KINDS:
        mine = [r for r in results if r.spoken.kind == kind]
        if mine:
            print(_row(kind, mine))
    print(_row("all", results))
    on = [r for r in results if r.adaptive]
    rate = 100 * sum(r.cut_off for r in on) / max(len(on), 1)
    print(f"  adaptive cut-offs {rate:.1f} % (target <= 2 %: {'met' if rate <= 2 else 'missed'})")
    for r in results:
        if r.cut_off or not r.turns:
            mode = "on " if r.adaptive else "off"
            why = f"turns {r.turns}" if r.turns else "no turn"
            print(f"  [{mode}] {r.spoken.kind}: {r.spoken.text!r} -> {why}")


async def judge_points(engines: Engines, spoken: list[Spoken]) -> None:
    """Part 1: the verdict at every pause (the caller is not done) and at every end (done), on
    the audio the early transcript gets (`EARLY_STT_MS` of silence after the words): what the
    rules decide, whatever the box's load does to the timing."""
    tail = bytes(round(end_of_turn.EARLY_STT_MS / 1000 * RATE) * 2)
    stt = engines.stt
    points: list[tuple[str, bool, Verdict, str, float]] = []  # kind, at the end, verdict...
    cut_if: list[tuple[str, int, float]] = []  # a pause judged complete: kind, length, STT s
    for utterance in spoken:
        for k, cut in enumerate((*utterance.pauses_at, len(utterance.pcm))):
            audio = resample(utterance.pcm[:cut] + tail, RATE, stt.sample_rate)
            started = time.perf_counter()
            text = (await stt.transcribe(audio, language="en-US")).text
            took = time.perf_counter() - started
            at_end = cut == len(utterance.pcm)
            verdict = end_of_turn.judge(text, "en-US")
            points.append((utterance.kind, at_end, verdict, text, took))
            if not at_end and verdict is Verdict.COMPLETE:
                cut_if.append((utterance.kind, utterance.pauses_ms[k], took))
    print("\nverdicts of the early transcript (Whisper on the words + 100 ms of silence)")
    print(f"  {'kind':<13}{'pauses':>7}{'complete':>9}{'hold':>6}{'unsure':>7}   "
          f"{'ends':>5}{'complete':>9}{'hold':>6}{'unsure':>7}")  # fmt: skip
    for kind in [*KINDS, "all"]:
        mine = [p for p in points if kind in (p[0], "all")]
        if not mine:
            continue
        cells = f"  {kind:<13}"
        for at_end in (False, True):
            got = [p[2] for p in mine if p[1] is at_end]
            counts = [got.count(v) for v in (Verdict.COMPLETE, Verdict.HOLD, Verdict.INCOMPLETE)]
            cells += f"{len(got):>{7 if not at_end else 8}}{counts[0]:>9}{counts[1]:>6}"
            cells += f"{counts[2]:>7}"
        print(cells)
    took = [p[4] * 1000 for p in points]
    print(
        f"  Whisper per early transcript: p50 {pct(took, 0.5):.0f} ms, p95 {pct(took, 0.95):.0f} ms"
    )
    # A pause judged complete is cut off when it outlasts the decision: the short silence, or
    # the early transcript's arrival (`EARLY_STT_MS` + the STT) when later.
    print("  cut-offs these verdicts make, by the short silence and the STT's speed:")
    for short in (200, 300, 400):
        cells = []
        for label, fast in (("STT as here", False), ("STT 150 ms", True)):
            cut = [
                kind
                for kind, pause, took in cut_if
                if pause >= max(short, end_of_turn.EARLY_STT_MS + (150 if fast else took * 1000))
            ]
            rest = [k for k in cut if k != "clause"]
            n_rest = sum(1 for u in spoken if u.kind != "clause")
            cells.append(
                f"{label}: {len(cut)}/{len(spoken)} ({100 * len(cut) / len(spoken):.1f} %),"
                f" without 'clause' {len(rest)}/{n_rest} ({100 * len(rest) / max(n_rest, 1):.1f} %)"
            )
        print(f"    short silence {short} ms  " + ";  ".join(cells))
    print("  misjudged (a pause judged complete, an end not judged complete):")
    for kind, at_end, verdict, text, _ in points:
        if (verdict is Verdict.COMPLETE) != at_end:
            where = "end  " if at_end else "pause"
            print(f"    {where} {kind:<13}{verdict.value:<11}{text!r}")


async def cutoffs(
    engines: Engines, redis: Redis, spoken: list[Spoken], verbose: bool, short_ms: int
) -> None:
    results: list[Heard] = []
    for k, utterance in enumerate(spoken, 1):
        for adaptive in (False, True):
            heard = await hear(engines, redis, utterance, adaptive=adaptive, short_ms=short_ms)
            results.append(heard)
            if verbose:
                verdicts = ",".join(v.value for v in heard.verdicts)
                silences = ",".join(f"{s:.0f}" for s in heard.end_silences_ms)
                print(
                    f"  {k:>2} {'on ' if adaptive else 'off'} end={heard.end_ms or -1:6.0f} ms"
                    f" cut={int(heard.cut_off)} [{verdicts}] [{silences}] {heard.turns}",
                    flush=True,
                )
    print_cutoffs(results)


async def voice_to_voice(engines: Engines, turns: int) -> None:
    """Part 2: the whole stack, the flag off and on in alternating calls (`voice_latency`)."""
    from bench import voice_latency as vl  # its import wraps the gateway's turn sending
    from bench._voice_stack import Probe, open_stack
    from providers.flags.redis_flags import RedisFlags

    callers = await vl.synthesise_callers(engines)
    probe = Probe(current=engines)
    rows: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    work = Path(tempfile.mkdtemp(prefix="bench-eot-"))
    async with AsyncExitStack() as stack:
        print("\nstarting the stack (dev server, Redis, LLM, emulator, worker, API, gateway)…")
        voice = await open_stack(work, probe.engines(), stack)
        flags = RedisFlags(voice.redis, key=voice.settings.flags.redis_key, ttl_sec=0)
        silence_s = (await flags.get()).vad_silence_timeout_ms / 1000
        half = max(1, turns // 2)
        for adaptive in (False, True, False, True):
            await flags.set("adaptive_end_of_turn", "true" if adaptive else "false")
            got, heard = await vl.run_call(
                voice, probe, callers, vl.CALLER, half, "instant", silence_s
            )
            rows[adaptive] += got
            print(f"  flag {'on ' if adaptive else 'off'}: heard {heard}", flush=True)
    for adaptive in (False, True):
        vl.print_table(f"local / instant, adaptive {'on' if adaptive else 'off'}", rows[adaptive])
    print("\nvoice to voice (local speech, instant LLM)")
    for adaptive in (False, True):
        totals = [r["total"] for r in rows[adaptive]]
        line = (
            f"  flag {'on ' if adaptive else 'off'}  p50 {pct(totals, 0.5):5.0f} ms"
            f"  p95 {pct(totals, 0.95):5.0f} ms"
        )
        if adaptive:
            line += f"  (target p50 <= 450 ms: {'met' if pct(totals, 0.5) <= 450 else 'missed'})"
        print(line)


async def measure(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.ERROR)
    from bench._report import local_engines
    from core.redis_server import RedisProcess

    print("loading Silero, Whisper and Piper…", flush=True)
    engines = local_engines()
    from providers.speech import models, piper_tts

    caller_tts = piper_tts.PiperTts(*models.piper_voice(), noise_scale=0, noise_w_scale=0)
    chosen = [(k, t) for k, t in UTTERANCES if k in args.kinds][: args.limit]
    spoken = [
        await compose(caller_tts, kind, text, SPEEDS[k % len(SPEEDS)])
        for k, (kind, text) in enumerate(chosen)
    ]
    # Warm-up: the first Whisper decode is slow.
    await engines.stt.transcribe(
        resample(spoken[0].pcm, RATE, engines.stt.sample_rate), language="en"
    )
    print(f"{len(spoken)} utterances, {sum(len(u.pauses_at) for u in spoken)} pauses", flush=True)
    if "v2v" in args.parts:
        await voice_to_voice(engines, args.v2v_turns)
    if "verdicts" in args.parts:
        await judge_points(engines, spoken)
    started = time.monotonic()
    if "cutoffs" in args.parts:
        print("\nplayed in real time, flag off then on for each…", flush=True)
        work = Path(tempfile.mkdtemp(prefix="bench-eot-redis-"))
        server = RedisProcess(workdir=work).start()
        redis = Redis.from_url(server.url)
        try:
            await cutoffs(engines, redis, spoken, args.verbose, args.short_ms)
        finally:
            await redis.aclose()
            server.stop()
        print(f"  ({time.monotonic() - started:.0f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=KINDS)
    parser.add_argument("--limit", type=int, default=len(UTTERANCES))
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=PARTS)
    parser.add_argument("--short-ms", type=int, default=200, help="adaptive_silence_ms (cutoffs)")
    parser.add_argument("--v2v-turns", type=int, default=8, help="voice to voice turns per flag")
    parser.add_argument("-v", "--verbose", action="store_true", help="every utterance")
    run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
