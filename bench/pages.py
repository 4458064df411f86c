"""Time every dashboard page: warm AppTest render seconds per page (target < 1.5 s each).

Each page is run once (cold: first render, caches empty), then timed on a second full run (warm).
This lives outside uq_core because it drives Streamlit (uq_core never imports Streamlit); ``python -m uq_core
bench pages`` runs it in a subprocess.

Usage: ``python bench/pages.py RUN_DIR [--json]``.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from uq_core.store import Run  # noqa: E402

TARGET_S = 1.5


def page_files(repo: Path = REPO_ROOT) -> list[Path]:
    """app.py followed by pages/N_*.py in sidebar order."""
    return [repo / "app.py"] + sorted((repo / "pages").glob("[0-9]_*.py"))


def bench_pages(run_path: str | Path, timeout: float = 60.0) -> dict[str, dict[str, float]]:
    """Warm render time (seconds) of every page on the run at *run_path*.

    Returns
    -------
    dict page file name -> {"cold": first render s, "warm": second render s}. Raises RuntimeError when a
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
        t0 = time.perf_counter()
        at.run()
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        at.run()
        out[f.name] = {"cold": round(cold, 3), "warm": round(time.perf_counter() - t0, 3)}
        if at.exception:
            raise RuntimeError(f"{f.name}: {at.exception[0].message}")
    return out


def format_bench(times: dict[str, dict[str, float]], target: float = TARGET_S) -> str:
    """Aligned text table: page, cold seconds, warm seconds, warm within target."""
    w = max(len(k) for k in times) if times else 4
    lines = [f"{'page'.ljust(w)}  cold s  warm s  < {target} s", f"{'-' * w}  ------  ------  -------"]
    lines += [f"{k.ljust(w)}  {v['cold']:6.3f}  {v['warm']:6.3f}  {'yes' if v['warm'] < target else 'NO'}"
              for k, v in times.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python bench/pages.py RUN_DIR [--json]")
    res = bench_pages(sys.argv[1])
    if sys.argv[2:] == ["--json"]:
        import json
        print(json.dumps(res))
    else:
        print(format_bench(res))
