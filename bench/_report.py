"""What the benchmarks share: percentiles, the local speech engines, polling, running and exiting.

`run` prints a failure's traceback and leaves through `os._exit`: the temporalio SDK may crash
at interpreter exit (sdk-python#300), which would hide the numbers already printed.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import traceback
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

from media_gateway.engines import Engines
from media_gateway.phrase_cache import CachedTts


def pct(values: list[float], q: float) -> float:
    """The `q` quantile (0..1) of `values`, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def local_engines(*, cached: bool = False) -> Engines:
    """Silero VAD, Whisper and Piper as the gateway builds them on the default settings;
    `cached`: Piper behind the phrase cache."""
    from core.settings import Settings
    from media_gateway.wiring import local_engines as gateway_engines

    engines = gateway_engines(Settings())
    return replace(engines, tts=CachedTts(engines.tts)) if cached else engines


async def wait_until(
    check: Callable[[], bool], timeout: float, what: str, *, every: float = 0.01
) -> None:
    """Poll `check` every `every` s until it holds; TimeoutError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(every)


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run a benchmark's `main` coroutine, then exit (1 if it failed)."""
    code = 0
    try:
        asyncio.run(main)
    except BaseException as exc:
        traceback.print_exception(exc)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
