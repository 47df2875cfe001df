"""The softphone's JS resampler (in its AudioWorklet file), run by Node on known signals."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

WORKLETS = Path(__file__).resolve().parents[2] / "acs_emulator/softphone/worklets.js"

# The worklet scope's globals, then the file, then signals through Resampler.
HARNESS = """
globalThis.AudioWorkletProcessor = class {};
globalThis.registerProcessor = () => {};
globalThis.sampleRate = 48000;
const source = require("fs").readFileSync(process.argv[1], "utf8");
const Resampler = new Function(source + "; return Resampler;")();
const [inRate, outRate, freq, seconds] = JSON.parse(process.argv[2]);
const n = Math.round(inRate * seconds);
const tone = (i) => 0.5 * Math.sin((2 * Math.PI * freq * i) / inRate);
const x = Float32Array.from({ length: n }, (_, i) => tone(i));
const whole = new Resampler(inRate, outRate).process(x);
const pieces = new Resampler(inRate, outRate);
const parts = [];
const sizes = [128, 37, 1, 480, 0, 300];
for (let at = 0, k = 0; at < n; k++) {
  const size = sizes[k % sizes.length];
  parts.push(pieces.process(x.subarray(at, at + size)));
  at += size;
}
const streamed = Float32Array.from(parts.flatMap((p) => Array.from(p)));
process.stdout.write(JSON.stringify({ whole: Array.from(whole), streamed: Array.from(streamed) }));
"""


def resample_in_node(in_rate: int, out_rate: int, freq: float, seconds: float = 0.5) -> Any:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is needed (it is for `make test` too): install it, e.g. apt nodejs")
    args = json.dumps([in_rate, out_rate, freq, seconds])
    done = subprocess.run(
        [node, "-e", HARNESS, str(WORKLETS), args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(done.stdout)


def rms(xs: list[float]) -> float:
    return math.sqrt(sum(x * x for x in xs) / len(xs))


@pytest.mark.parametrize(
    ("in_rate", "out_rate"),
    [(48_000, 16_000), (44_100, 24_000), (16_000, 48_000), (24_000, 44_100)],
)
def test_a_tone_keeps_its_pitch_and_level_and_blocks_leave_no_seams(
    in_rate: int, out_rate: int
) -> None:
    result = resample_in_node(in_rate, out_rate, 440.0)
    whole, streamed = result["whole"], result["streamed"]
    assert abs(len(whole) - 0.5 * out_rate) <= 2
    # Cut into odd blocks (even empty ones), the output is the same stream.
    assert len(streamed) == len(whole)
    assert max(abs(a - b) for a, b in zip(whole, streamed, strict=True)) < 1e-5
    steady = whole[out_rate // 20 :]  # past the filter's start-up
    assert rms(steady) == pytest.approx(0.5 / math.sqrt(2), rel=0.02)
    crossings = sum(1 for a, b in zip(steady, steady[1:], strict=False) if a < 0 <= b)
    assert crossings == pytest.approx(440 * len(steady) / out_rate, abs=2)


def test_going_down_a_tone_above_the_new_nyquist_is_filtered_out() -> None:
    # 12 kHz cannot exist at 16 kHz: unfiltered it would alias to a loud 4 kHz tone.
    steady = resample_in_node(48_000, 16_000, 12_000.0)["whole"][800:]
    assert rms(steady) < 0.02 * 0.5 / math.sqrt(2)
