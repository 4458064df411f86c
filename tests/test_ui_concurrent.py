"""Five browser sessions on one server at once: no errors, no mixed-up state; server RSS with 1 and 5 sessions.

Each session picks its own method on the hidden-state map and its own question in the inspector,
moves through other pages in between, and checks that it still sees its own choices.
"""
from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixture_run import build_fixture_run  # noqa: E402
from ui_server import CHROMIUM, CHROMIUM_ARGS, rss_mb, streamlit_server  # noqa: E402

pytestmark = [pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed "
                                 "(apt-get install -y chromium chromium-driver)"), pytest.mark.timeout(420)]
N_SESSIONS = 5
T = 120_000  # ms; 5 sessions share 2 CPU cores here


async def _no_errors(page, who: str) -> None:
    for sel in ('[data-testid="stException"]', '[data-testid="stAlertContentError"]'):
        n = await page.locator(sel).count()
        assert n == 0, f"{who}: {sel} shown: {await page.locator(sel).all_inner_texts()}"


async def _nav(page, label: str, heading: str) -> None:
    await page.locator('[data-testid="stSidebarNav"] a', has_text=label).first.click()
    await page.get_by_role("heading", name=heading).first.wait_for(timeout=T)


async def _session(browser, url: str, i: int, method: str, qid: str, ready: asyncio.Event | None,
                   done: list) -> dict:
    ctx = await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await ctx.new_page()
    who = f"session {i}"
    try:
        await page.goto(f"{url}/Hidden_state_map")
        await page.wait_for_selector(".js-plotly-plot", timeout=T)
        await page.get_by_role("combobox", name="Method").click()
        await page.get_by_role("option", name=method, exact=True).click()
        await page.get_by_role("heading", name=f"Separation at L8: {method}").wait_for(timeout=T)
        await _nav(page, "Fragility", "Fragility")
        await _nav(page, "Truth evaluation", "Truth evaluation")
        await _nav(page, "Hidden state map", "Hidden-state map")
        await page.wait_for_selector(".js-plotly-plot", timeout=T)
        heading = await page.get_by_role("heading", name=re.compile("^Separation at")).first.inner_text()
        seen_method = heading.split(": ", 1)[-1].strip()
        box = await page.get_by_role("combobox", name="Method").input_value()
        assert box == method, f"{who}: method selectbox shows {box!r}"
        await _nav(page, "Question inspector", "Question inspector")
        await page.get_by_role("combobox", name="Question", exact=True).click()
        await page.keyboard.type(f"{qid}:")
        await page.get_by_role("option").filter(has_text=f"{qid}: ").first.click()
        await page.get_by_text(f"{qid} (", exact=False).first.wait_for(timeout=T)
        await page.wait_for_selector(".js-plotly-plot", timeout=T)
        await _no_errors(page, who)
        shown = await page.locator('[data-testid="stText"]').first.inner_text()
        done.append(i)
        if ready is not None:
            await ready.wait()  # keep every session open while the server's memory is measured
        return {"method": method, "seen_method": seen_method, "qid": qid, "seen_qid": shown.split(" (")[0]}
    finally:
        await ctx.close()


async def _scenario(url: str, proc, methods: list[str], ids: list[str]) -> tuple[list[dict], float, float]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            one_ready, done1 = asyncio.Event(), []
            t1 = asyncio.create_task(_session(browser, url, 0, methods[0], ids[0], one_ready, done1))
            while not done1 and not t1.done():
                await asyncio.sleep(0.2)
            rss1 = rss_mb(proc)
            one_ready.set()
            await t1
            ready, done = asyncio.Event(), []
            tasks = [asyncio.create_task(_session(browser, url, i, methods[i % len(methods)], ids[i + 1], ready, done))
                     for i in range(N_SESSIONS)]
            while len(done) < N_SESSIONS and not any(t.done() and t.exception() for t in tasks):
                await asyncio.sleep(0.2)
            rss5 = rss_mb(proc)
            ready.set()
            results = await asyncio.gather(*tasks)
        finally:
            await browser.close()
    return results, rss1, rss5


def test_five_sessions_keep_their_own_state(tmp_path, capsys):
    run = build_fixture_run(tmp_path / "fixture", n=40, seed=0)
    methods = ["semantic_entropy", "eigv", "p_true", "verbalized", "msp"]
    ids = pd.read_parquet(run / "questions.parquet")["id"].tolist()[:N_SESSIONS + 1]
    with streamlit_server(tmp_path, "fixture") as (url, proc):
        results, rss1, rss5 = asyncio.run(_scenario(url, proc, methods, ids))
    for r in results:
        assert r["seen_method"] == r["method"], results
        assert r["seen_qid"] == r["qid"], results
    assert len({r["qid"] for r in results}) == N_SESSIONS
    with capsys.disabled():
        print(f"\nserver RSS incl. children: 1 session {rss1:.0f} MiB, {N_SESSIONS} sessions {rss5:.0f} MiB")
