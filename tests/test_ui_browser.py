"""The real app in a real browser: start `streamlit run app.py`, open three pages in Chromium, look for errors.

Screenshots go to tests/_artifacts/ (git-ignored) and, with UQ_LENS_SCREENSHOTS=1, to docs/screenshots/.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixture_run import build_fixture_run  # noqa: E402
from ui_server import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, streamlit_server  # noqa: E402

pytestmark = [pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed "
                                 "(apt-get install -y chromium chromium-driver)"), pytest.mark.timeout(240)]

PAGES = [("overview", "", "UQ Lens"), ("hidden_state_map", "Hidden_state_map", "Hidden-state map"),
         ("question_inspector", "Question_inspector", "Question inspector")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("browser_runs")
    build_fixture_run(base / "fixture", n=40, seed=0)
    (base / "broken").mkdir()  # a broken run must not break any page
    (base / "broken" / "manifest.json").write_text("[]", encoding="utf-8")
    with streamlit_server(base, "fixture") as (url, proc):
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def assert_no_errors(page, name: str) -> None:
    exc = page.locator('[data-testid="stException"]')
    err = page.locator('[data-testid="stAlertContentError"]')
    assert exc.count() == 0, f"{name}: exception shown: {exc.all_inner_texts()}"
    assert err.count() == 0, f"{name}: error alert shown: {err.all_inner_texts()}"


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("UQ_LENS_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SCREENSHOTS / f"{name}.png")


@pytest.mark.parametrize("name,url_path,title", PAGES)
def test_page_draws_figures_without_errors(server, browser, name, url_path, title):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{server}/{url_path}")
        page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=60_000)
        assert page.locator(".js-plotly-plot").count() >= 1
        assert_no_errors(page, name)
        # untrusted text is shown as text, never as HTML: no <b> element made from a question
        assert page.locator("b:has-text('Land ')").count() == 0
        shoot(page, name)
    finally:
        page.close()


def test_map_to_inspector_flow(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{server}/Hidden_state_map")
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        page.get_by_role("combobox", name="Method").click()
        page.get_by_role("option", name="msp", exact=True).click()
        page.get_by_role("heading", name="Separation at L8: msp").wait_for(timeout=30_000)
        # lasso around one point of the left map: the selection is listed below the maps
        point = page.locator(".js-plotly-plot").first.locator(".scatterlayer .trace .points path").first
        box = point.bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x - 12, y - 12)
        page.mouse.down()
        for dx, dy in ((12, -12), (12, 12), (-12, 12), (-12, -12)):
            page.mouse.move(x + dx, y + dy, steps=4)
        page.mouse.up()
        page.get_by_role("heading", name=re.compile(r"^Selected questions \(\d+\)")).wait_for(timeout=30_000)
        pick = page.get_by_role("combobox", name="Question to inspect")
        qid = pick.input_value() or page.locator('[data-testid="stSelectbox"]').last.inner_text().split("\n")[-1]
        page.get_by_role("button", name="Open in inspector").click()
        page.get_by_role("heading", name="Question inspector").wait_for(timeout=30_000)
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        assert qid.strip()
        page.get_by_text(f"{qid.strip()} (").first.wait_for(timeout=30_000)   # the picked question is shown
        assert_no_errors(page, "inspector from map")
    finally:
        page.close()


def test_report_download_is_self_contained_html(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(server)
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        button = page.get_by_role("button", name="Download HTML report")
        button.scroll_into_view_if_needed()
        with page.expect_download(timeout=60_000) as dl:
            button.click()
        path = tmp_path / "report.html"
        dl.value.save_as(path)
        text = path.read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE html>") and text.count("plotly.js v") == 1
        assert "<b>Land" not in text and "&lt;b&gt;Land" in text
        assert_no_errors(page, "overview after download")
    finally:
        page.close()
