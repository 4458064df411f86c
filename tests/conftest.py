"""Shared fixtures. The suite runs offline (HF_HUB_OFFLINE=1) with the bundled model and embedder."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SMALL_RUN_CONFIG = {
    "model": "smollm2-135m", "datasets": ["capitals", "arithmetic"], "limit": 6, "samples": 4,
    "temperature": 1.0, "seed": 0, "max_new_tokens": 12, "temperatures": [0.5], "templates": ["qa_terse"],
    "sweep_limit": 4, "sweep_samples": 3,
}


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """A real run of the whole pipeline: bundled model, real questions, verifiers, methods and analyses."""
    from uq_core.pipeline import run_pipeline
    out = tmp_path_factory.mktemp("runs") / "small"
    return run_pipeline(SMALL_RUN_CONFIG, out)
