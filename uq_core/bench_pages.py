"""Time every dashboard page: warm AppTest render seconds per page (target < 1.5 s each).

Each page is run once to warm the caches, then timed on a second full run. Streamlit is imported
only inside ``bench_pages`` (the rest of uq_core never imports it).

Usage: ``python -m uq_core.bench_pages RUN_DIR``.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .store import REPO_ROOT, Run

TARGET_S = 1.5


def page_files(repo: Path = REPO_ROOT) -> list[Path]:
    """app.py followed by pages/N_*.py in sidebar order."""
    return [repo / "app.py"] + sorted((repo / "pages").glob("[0-9]_*.py"))


def bench_pages(run_path: str | Path, timeout: float = 60.0) -> dict[str, float]:
    """Warm render time (seconds) of every page on the run at *run_path*.

    Returns
    -------
    dict page file name -> seconds of the second (warm) AppTest run. Raises RuntimeError when a
    page shows an exception.
    """
    from streamlit.testing.v1 import AppTest

    run_path = str(Run.open(run_path).path.resolve())
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    out = {}
    for f in page_files():
        at = AppTest.from_file(str(f), default_timeout=timeout)
        at.session_state["uq_run_path"] = run_path
        at.run()
        t0 = time.perf_counter()
        at.run()
        out[f.name] = time.perf_counter() - t0
        if at.exception:
            raise RuntimeError(f"{f.name}: {at.exception[0].message}")
    return out


def format_bench(times: dict[str, float], target: float = TARGET_S) -> str:
    """Aligned text table: page, warm seconds, within target."""
    w = max(len(k) for k in times) if times else 4
    lines = [f"{'page'.ljust(w)}  warm s  < {target} s", f"{'-' * w}  ------  -------"]
    lines += [f"{k.ljust(w)}  {v:6.3f}  {'yes' if v < target else 'NO'}" for k, v in times.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m uq_core.bench_pages RUN_DIR")
    print(format_bench(bench_pages(sys.argv[1])))
