"""`make demo` end to end, with the scripted LLM standing in for llama.cpp (it is fast).

Every process is real and separate, as `make demo` starts them: the Temporal dev server, the
ACS emulator, the media gateway (Silero, Whisper, Piper), the worker and the API. The caller's
voice is synthesised by Piper and heard by Whisper; only the LLM's answers are scripted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.redis_server import free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(400)
def test_the_demo_call_completes_with_a_claim_and_a_synthesis(
    tmp_path: Path, redis_url: str
) -> None:
    temporal, ui, api, gateway = free_port(), free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "CALLCENTER_TEMPORAL__ADDRESS": f"127.0.0.1:{temporal}",
        "CALLCENTER_TEMPORAL__UI_URL": f"http://127.0.0.1:{ui}",
        "CALLCENTER_API__PORT": str(api),
        "CALLCENTER_TELEPHONY__GATEWAY_PORT": str(gateway),
        "CALLCENTER_REDIS__URL": redis_url,
        "PYTHONPATH": str(REPO),
    }
    command = [
        sys.executable, "-m", "cli", "demo", "--scripted-llm",
        "--emulator-port", str(free_port()), "--llm-port", str(free_port()),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=380, check=False
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr

    # The live transcript: the bot heard the synthesised caller and answered each turn.
    assert "caller (as heard): " in out and "accident" in out.lower()
    assert re.search(r"claim  policyholder_name = Jane Miller", out), out
    # The call ended (the bot's end_call, or the caller hanging up), then post-call ran.
    assert "call ended; waiting for the synthesis" in out
    # The summary at the end, and where to look at the call afterwards.
    claim = out.split("==> the claim", 1)[1]
    assert re.search(r"policy_number\s+B-?01371946", claim), claim
    assert re.search(r"policyholder_name\s+Jane Miller", claim), claim
    assert "==> synthesis" in out and "your car accident in Lyon" in out
    assert "==> next action: requires_expertise" in out
    measured = re.search(r"voice-to-voice .*, (\d+) turns\): p50 \d+ ms, p95 \d+ ms", out)
    assert measured, out
    # Where each turn's time went, from the spans of every process: a row per measured turn
    # with every stage found, then the p50 row.
    table = out.split("where each turn's time went", 1)[1].split("==> report", 1)[0]
    rows = [line.split() for line in table.splitlines() if re.match(r"\s+(\d+|p50)\s", line)]
    assert len(rows) == int(measured.group(1)) + 1, table
    assert rows[-1][0] == "p50" and all(cell.isdigit() for cell in rows[-1][1:]), table
    assert len(rows[-1]) == 8, table
    assert re.search(rf"report\s+http://127\.0\.0\.1:{api}/report/[0-9a-f-]{{36}}", out), out
    assert f"http://127.0.0.1:{ui}/namespaces/default/workflows/call-" in out
    # It stopped what it started: nothing answers on its ports any more.
    assert "==> stopping what the demo started" in out
    for port in (temporal, api, gateway):
        assert (
            subprocess.run(
                ["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"], capture_output=True
            ).returncode
            != 0
        ), f"port {port} still open"
    assert (tmp_path / "var" / "logs" / "demo" / "worker.log").exists()
