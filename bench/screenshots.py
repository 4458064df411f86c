"""Screenshots of the dashboard on the bundled demo run for the README (docs/screenshots/).

Usage: ``python bench/screenshots.py`` (starts the app on a free port, drives headless Chromium).
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from ui_server import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, streamlit_server  # noqa: E402

PAGES = [("overview", ""), ("hidden_state_map", "Hidden_state_map"), ("method_agreement", "Method_agreement"),
         ("question_inspector", "Question_inspector")]


def main() -> None:
    from playwright.sync_api import sync_playwright
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with streamlit_server(Path(tempfile.mkdtemp()), "") as (url, _proc), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1100})
        for name, path in PAGES:
            page.goto(f"{url}/{path}", timeout=120_000)
            page.wait_for_selector(".js-plotly-plot", timeout=120_000)
            page.wait_for_timeout(2500)
            assert page.locator('[data-testid="stException"]').count() == 0, name
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
            print("saved", SCREENSHOTS / f"{name}.png")
        browser.close()


if __name__ == "__main__":
    main()
