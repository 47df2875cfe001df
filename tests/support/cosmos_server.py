"""Runs `@vercel/cosmosdb-server`, an in-memory Cosmos DB NoSQL server, for adapter tests.

The npm package is installed under `<repo>/var/node` the first time it is needed. The server
speaks plain http, so clients must pass `enable_endpoint_discovery=False`: its account metadata
advertises https, and following it fails with SSL WRONG_VERSION_NUMBER.
"""

from __future__ import annotations

import fcntl
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_PREFIX = REPO_ROOT / "var" / "node"
PACKAGE = "@vercel/cosmosdb-server@1.0.1"
# The Cosmos DB emulator's published key: the server accepts any base64 key.
EMULATOR_KEY = (
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
)


class CosmosServerError(RuntimeError):
    """The server could not be installed or started."""


def ensure_installed(prefix: Path = NODE_PREFIX) -> Path:
    """Installs the package under `prefix` unless it is there; returns the server's executable.

    Raises:
        CosmosServerError: node or npm is missing, or the install failed.
    """
    binary = prefix / "node_modules" / ".bin" / "cosmosdb-server"
    if binary.exists():
        return binary
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        raise CosmosServerError(
            f"The Cosmos DB store tests need Node.js and npm to install {PACKAGE} "
            "(e.g. `apt-get install nodejs npm`); "
            f"{'npm' if npm is None else 'node'} was not found on PATH."
        )
    prefix.mkdir(parents=True, exist_ok=True)
    # Test processes started side by side must not run npm into the same folder at once.
    with (prefix / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            done = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix), PACKAGE],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if done.returncode != 0 or not binary.exists():
                raise CosmosServerError(f"npm install {PACKAGE} failed:\n{done.stderr[-2000:]}")
    return binary


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class CosmosServer:
    """One cosmosdb-server process on a free local port; also a context manager.

    Blocking on purpose: it is started once per test module from a synchronous fixture, which
    any async fixture can then request.

    Attributes:
        endpoint: `http://127.0.0.1:<port>` once started.
        key: A key the server accepts.
    """

    key = EMULATOR_KEY

    def __init__(self, *, prefix: Path = NODE_PREFIX, start_timeout_s: float = 30.0) -> None:
        self._prefix = prefix
        self._start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.endpoint = ""

    def start(self) -> None:
        """Installs the package if needed, starts the server and waits until it answers.

        Raises:
            CosmosServerError: It could not be installed or did not start in time.
        """
        binary = ensure_installed(self._prefix)
        port = _free_port()
        self._log = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [str(binary), "-p", str(port), "--host", "127.0.0.1", "--no-ssl"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.endpoint = f"http://127.0.0.1:{port}"
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout_s
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise CosmosServerError(f"cosmosdb-server exited:\n{self._output()}")
            try:
                with urllib.request.urlopen(self.endpoint + "/", timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # an HTTP error status is still an answer
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise CosmosServerError(
                    f"cosmosdb-server did not answer within {self._start_timeout_s}s:\n"
                    f"{self._output()}"
                )
            time.sleep(0.1)

    def _output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read()[-2000:].decode(errors="replace")

    def stop(self) -> None:
        """Stops the server (its data is lost); safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> CosmosServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
