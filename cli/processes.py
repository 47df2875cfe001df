"""Child processes of `make dev` and `make demo`: started with logs, watched, stopped in order."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path


class ServiceFailed(RuntimeError):
    """A child process exited, or did not become ready in time."""


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback URLs)
            return 200 <= int(response.status) < 300
    except (OSError, urllib.error.URLError, ValueError):
        return False


class Services:
    """Named child processes, each logging to `logs/<name>.log`; `stop()` ends them in reverse."""

    def __init__(self, logs: Path, env: dict[str, str] | None = None) -> None:
        self.logs = logs
        self.env = dict(os.environ if env is None else env)
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []
        logs.mkdir(parents=True, exist_ok=True)

    def spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        log.close()  # the child holds its own descriptor
        self.started.append((name, process))
        return process

    def check(self) -> None:
        """Raise when any child has exited (its log says why)."""
        for name, process in self.started:
            if process.poll() is not None:
                raise ServiceFailed(
                    f"{name} exited with {process.returncode}; see {self.logs / name}.log"
                )

    def wait(
        self,
        name: str,
        ready: Callable[[], bool],
        timeout: float,
        *,
        tick: Callable[[float], None] | None = None,
    ) -> float:
        """Poll `ready` until true; returns the seconds waited. `tick(elapsed)` shows progress."""
        started = time.monotonic()
        while not ready():
            self.check()
            elapsed = time.monotonic() - started
            if elapsed > timeout:
                raise ServiceFailed(
                    f"{name} was not ready within {timeout:.0f} s; see {self.logs / name}.log"
                )
            if tick is not None:
                tick(elapsed)
            time.sleep(0.2)
        return time.monotonic() - started

    def stop(self, timeout: float = 10) -> None:
        for _, process in reversed(self.started):
            if process.poll() is None:
                process.send_signal(signal.SIGINT if os.name == "posix" else signal.SIGTERM)
        for _, process in reversed(self.started):
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.started.clear()
