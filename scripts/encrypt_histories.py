"""Encrypt recorded workflow histories in place under the test suite's current key.

Usage: python scripts/encrypt_histories.py [FILE_OR_DIR ...]   (default: tests/workflows/histories)

A payload-level transform (`core/history_codec.py`), not a re-recording: the events stay the
ones older code wrote, which is what the replay tests must keep proving. Idempotent: payloads
already under the current key are re-encrypted (new nonces), hashed phone numbers stay.
Production histories are never exported in plaintext: fetch them through a client with the codec.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from core.history_codec import HistoryEncryptor
    from tests.support.codec import TEST_CODEC

    roots: list[Path] = args.paths or [ROOT / "tests" / "workflows" / "histories"]
    files = [f for r in roots for f in ([r] if r.is_file() else sorted(r.glob("*.json")))]
    encryptor = HistoryEncryptor(TEST_CODEC)
    for path in files:
        history = encryptor.encrypt(json.loads(path.read_text(encoding="utf-8")))
        path.write_text(json.dumps(history, indent=2) + "\n", encoding="utf-8")
    sys.stdout.write(f"encrypted {len(files)} histories under key {TEST_CODEC.current_key}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
