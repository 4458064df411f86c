"""Time from `streamlit run app.py` (as `make run` starts it) to the first Plotly chart on the Overview of the
bundled demo run, in headless Chromium. Also checks that no model or embedder was loaded by the server.

Usage: ``python bench/first_chart.py``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from ui_server import CHROMIUM, CHROMIUM_ARGS, free_port  # noqa: E402


def main() -> dict:
    from playwright.sync_api import sync_playwright
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "UQ_LENS_RUNS_DIR": tempfile.mkdtemp()}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address=127.0.0.1", "--server.headless=true"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            while True:
                try:
                    page.goto(f"http://127.0.0.1:{port}/", timeout=2000)
                    break
                except Exception:
                    if proc.poll() is not None or time.perf_counter() - t0 > 120:
                        raise RuntimeError("streamlit did not start")
                    time.sleep(0.2)
            t_page = time.perf_counter() - t0
            page.wait_for_selector(".js-plotly-plot", timeout=120_000)
            t_chart = time.perf_counter() - t0
            errors = page.locator('[data-testid="stException"]').count()
            browser.close()
        mods = subprocess.run(["cat", f"/proc/{proc.pid}/maps"], capture_output=True, text=True).stdout
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0]
    loaded_model = any(k in out for k in ("Loading weights", "de-quantizing", "SentenceTransformer")) or \
        any(k in mods for k in (".safetensors", ".gguf"))
    return {"server_start_to_page_s": round(t_page, 2), "server_start_to_first_chart_s": round(t_chart, 2),
            "errors_on_page": errors, "model_or_embedder_loaded": loaded_model}


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
