"""Headless Chromium for page tests: finds (or installs) the browser, dumps DOMs, takes shots.

Where no Chromium is found and the tests run as root on a machine with apt (the CI: Debian,
as root), Debian's `chromium` package is installed once; elsewhere it fails with the command
to run. Tests that need a browser must not silently skip: the pages would go unchecked.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
KNOWN_PATHS = (Path("/usr/bin/chromium"), Path("/usr/bin/chromium-browser"))
LOCK_PATH = Path(tempfile.gettempdir()) / "callcenter-chromium-install.lock"
INSTALL_TIMEOUT_S = 900
RENDER_TIMEOUT_S = 60.0

FLAGS = (
    "--headless",
    "--no-sandbox",  # the CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
)


class ChromiumError(RuntimeError):
    """Chromium is missing and could not be installed, or it failed to render a page."""


def find() -> str | None:
    """The path of an installed Chromium or Chrome, or None."""
    for path in KNOWN_PATHS:
        if path.exists() and os.access(path, os.X_OK):
            return str(path)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _apt_install() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # A bare image may have no font at all: screenshots would show only boxes without one.
    packages = ["chromium", "fonts-dejavu-core"]
    install = ["apt-get", "install", "-y", "--no-install-recommends", *packages]

    def run(command: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=env,
            timeout=INSTALL_TIMEOUT_S,
            check=False,
        )

    done = run(install)
    if done.returncode != 0:
        # Stale or missing package lists are the usual cause: refresh them once and retry.
        run(["apt-get", "update"])
        done = run(install)
    if done.returncode != 0:
        raise ChromiumError(f"`apt-get install chromium` failed:\n{done.stderr[-2000:]}")


def ensure() -> str:
    """The Chromium executable; installs Debian's `chromium` as root with apt when missing.

    Raises:
        ChromiumError: None is installed and it cannot be installed here.
    """
    found = find()
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ChromiumError(
            "The report page tests need Chromium (headless) and none was found "
            f"({', '.join(CANDIDATES)}). Install it, e.g. `sudo apt-get install chromium`."
        )
    # Test processes started side by side must not run apt at once (it locks, then fails).
    with LOCK_PATH.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if find() is None:
            _apt_install()
    found = find()
    if found is None:
        raise ChromiumError("chromium was installed with apt but no executable was found")
    return found


async def _run(args: list[str]) -> bytes:
    process = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), RENDER_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise ChromiumError(f"chromium timed out after {RENDER_TIMEOUT_S}s: {args}") from None
    if process.returncode != 0:
        raise ChromiumError(
            f"chromium exited with {process.returncode}:\n{stderr.decode(errors='replace')[-2000:]}"
        )
    return stdout


def _clear(path: Path) -> None:
    """Makes room for a new screenshot, so a stale one never passes for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)


async def render(
    url: str, *, screenshot: Path | None = None, width: int = 390, height: int = 844
) -> str:
    """The DOM of `url` after load, as HTML; also saves a PNG of the viewport to `screenshot`.

    Chromium runs as a subprocess so the event loop keeps serving the page it loads.
    """
    binary = await asyncio.to_thread(ensure)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        common = [binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"]
        dom = (await _run([*common, "--dump-dom", url])).decode()
        if screenshot is not None:
            await asyncio.to_thread(_clear, screenshot)
            await _run([*common, f"--screenshot={screenshot}", url])
            if not await asyncio.to_thread(screenshot.exists):
                raise ChromiumError(f"chromium did not write the screenshot {screenshot}")
    return dom
