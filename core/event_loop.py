"""Running a process's main coroutine, on uvloop where it is installed.

The media gateway sends and receives 100 WebSocket messages a second per call; uvloop's
transports and timers cut its CPU per call by about a quarter (`bench/gateway_capacity.py`).
On Windows, where uvloop does not exist, the standard loop runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
