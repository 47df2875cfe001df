"""`worker.py` with tracemalloc on demand, for `bench/soak.py --trace`: where a worker's memory
goes after the warm-up.

The first SIGUSR1 starts tracemalloc (tracing from the start slows the imports tenfold); each
later one writes a snapshot of the Python heap, after a full collection, to
`<CALLCENTER_TRACE_DIR>/snapshot-<n>.pickle` (n from 1), then a `snapshot-<n>.done` marker. A
snapshot holds only the blocks allocated since tracing began and still alive: what grew. It sees
Python allocations only; memory held by the Temporal core (Rust) or other native code is not in it.

    python bench/_traced_worker.py        # same settings as worker.py, from the environment
"""

from __future__ import annotations

import gc
import itertools
import os
import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FRAMES = 12  # enough to reach the caller in our code from inside pydantic or temporalio


def main() -> None:
    folder = Path(os.environ["CALLCENTER_TRACE_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    numbers = itertools.count(1)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start(FRAMES)
            return
        n = next(numbers)
        gc.collect()
        tracemalloc.take_snapshot().dump(str(folder / f"snapshot-{n}.pickle"))
        (folder / f"snapshot-{n}.done").touch()

    signal.signal(signal.SIGUSR1, on_signal)
    import worker

    worker.main()


if __name__ == "__main__":
    main()
