"""Every page through Streamlit's AppTest, on the synthetic fixture run (and the bundled demo run if present).

Widgets are set by key and the tests check that the shown values change with them.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixture_run import build_fixture_run  # noqa: E402

from uq_core.store import DEMO_RUN  # noqa: E402

PAGES = ["app.py"] + sorted(str(p.relative_to(REPO)) for p in (REPO / "pages").glob("[0-9]_*.py"))
TIMEOUT = 10


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    build_fixture_run(base / "fixture", n=40, seed=0)
    (base / "broken").mkdir()
    (base / "broken" / "manifest.json").write_text("{not json", encoding="utf-8")
    old = os.environ.get("UQ_LENS_RUNS_DIR")
    os.environ["UQ_LENS_RUNS_DIR"] = str(base)
    yield base
    if old is None:
        os.environ.pop("UQ_LENS_RUNS_DIR", None)
    else:
        os.environ["UQ_LENS_RUNS_DIR"] = old


RUNS = ["fixture"] + (["demo"] if (DEMO_RUN / "manifest.json").exists() else [])


@pytest.fixture(params=RUNS)
def run_path(request, runs_dir) -> str:
    return str(runs_dir / "fixture") if request.param == "fixture" else str(DEMO_RUN)


def page(path_in_repo: str, run: str, **state) -> AppTest:
    """AppTest of one page with the run (and any other shared state) seeded, already run once."""
    at = AppTest.from_file(str(REPO / path_in_repo), default_timeout=TIMEOUT)
    at.session_state["uq_run_path"] = run
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def nav(run: str, target: str) -> AppTest:
    """Start at the Overview (the app's entry point) and switch to *target* (for st.switch_page tests)."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    at.session_state["uq_run_path"] = run
    at.run()
    return at.switch_page(target).run()


def subheaders(at: AppTest) -> list[str]:
    return [s.value for s in at.subheader]


def chart_titles(at: AppTest) -> list[str]:
    out = []
    for el in at.get("plotly_chart"):
        t = json.loads(el.proto.spec).get("layout", {}).get("title")
        out.append(t.get("text", "") if isinstance(t, dict) else str(t or ""))
    return out


@pytest.mark.parametrize("p", PAGES)
def test_every_page_renders_without_exception(p, run_path):
    at = page(p, run_path)
    assert not at.exception, [e.message for e in at.exception]
    assert at.title, f"{p} shows no title"
    if p != "pages/7_New_run.py":
        assert not at.error, [e.value for e in at.error]


def test_overview_headline_matches_run_and_follows_the_fraction(run_path):
    ev = json.loads((Path(run_path) / "analyses/evaluation.json").read_text())
    at = page("app.py", run_path)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Questions"] == str(ev["n_questions"])
    assert metrics["Accuracy"] == f"{100 * ev['accuracy']:.0f}%"
    best = max((m for m, e in ev["methods"].items() if e["auroc"] is not None), key=lambda m: ev["methods"][m]["auroc"])
    assert f"Best AUROC: {best}" in metrics
    first = subheaders(at)[0]
    assert "most sure about are wrong" in first
    at.radio(key="ov_q").set_value(10).run()
    assert not at.exception
    assert subheaders(at)[0] != first  # 10% of the answers is a different count than 20%
    assert any(b.label == "Download HTML report" for b in at.get("download_button"))


def test_broken_run_is_listed_and_does_not_break_the_page(run_path, runs_dir):
    at = page("app.py", run_path)
    texts = [t.value for t in at.sidebar.text]
    assert any(t.startswith("broken:") and "not valid JSON" in t for t in texts), texts
    assert not at.exception


def test_hidden_state_map_method_and_layer_selectors_change_the_view(run_path):
    at = page("pages/1_Hidden_state_map.py", run_path)
    sh = subheaders(at)[0]
    methods = at.selectbox(key="hs_method").options
    other = [m for m in methods if m != at.selectbox(key="hs_method").value][0]
    at.selectbox(key="hs_method").select(other).run()
    assert not at.exception
    assert subheaders(at)[0] != sh and subheaders(at)[0].endswith(other)
    assert at.session_state["uq_method"] == other
    layers = at.selectbox(key="hs_layer").options
    if len(layers) > 1:
        at.selectbox(key="hs_layer").select(layers[0]).run()
        assert subheaders(at)[0].startswith(f"Separation at {layers[0]}")
    at.toggle(key="hs_continuous").set_value(True).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 2


def test_method_choice_survives_a_page_switch(run_path):
    at = nav(run_path, "pages/1_Hidden_state_map.py")
    other = at.selectbox(key="hs_method").options[-1]
    at.selectbox(key="hs_method").select(other).run()
    at.switch_page("pages/3_Fragility.py").run()
    at.switch_page("pages/1_Hidden_state_map.py").run()
    assert at.selectbox(key="hs_method").value == other


def test_open_in_inspector_switches_page_with_the_question(run_path):
    at = nav(run_path, "pages/1_Hidden_state_map.py")
    opts = at.selectbox(key="hs_pick").options
    target = opts[-1]
    at.selectbox(key="hs_pick").select(target)
    at.button(key="hs_open").click().run()
    assert not at.exception
    assert at.selectbox(key="qi_question").value == target
    assert any(t.value.startswith(f"{target} (") for t in at.text)


def test_agreement_correlation_kind_and_fraction(run_path):
    at = page("pages/2_Method_agreement.py", run_path)
    assert "Spearman rank correlation between methods" in chart_titles(at)
    assert any("random rankings" in t for t in chart_titles(at))
    at.radio(key="ag_kind").set_value("kendall").run()
    assert "Kendall rank correlation between methods" in chart_titles(at)
    n20 = len(at.dataframe[-1].value)
    at.select_slider(key="ag_q").set_value(10).run()
    assert not at.exception
    assert len(at.dataframe[-1].value) <= n20


def test_fragility_sweep_and_metric(run_path):
    at = page("pages/3_Fragility.py", run_path)
    sweeps = at.selectbox(key="fr_sweep").options
    if len(sweeps) < 2:
        pytest.skip("run has a single sweep")
    at.selectbox(key="fr_sweep").select(sweeps[1]).run()
    assert subheaders(at)[0] == f"Range and worst case over the {sweeps[1]} sweep"
    at.radio(key="fr_metric").set_value("kendall").run()
    assert any(t.startswith("Kendall tau vs reference across") for t in chart_titles(at))
    assert not at.exception


def test_truth_evaluation_metric_switch(run_path):
    at = page("pages/4_Truth_evaluation.py", run_path)
    assert "AUROC per method" in subheaders(at)
    at.radio(key="te_metric").set_value("prr").run()
    assert "PRR per method" in subheaders(at)
    assert "prr" in at.dataframe[0].value.columns
    assert not at.exception


def test_conformal_risk_control_reacts_to_epsilon(run_path):
    at = page("pages/5_Conformal.py", run_path)
    if not at.slider:
        pytest.skip("risk_control not importable yet: " + " ".join(w.value for w in at.warning))
    before = {m.label: m.value for m in at.metric}
    at.slider(key="cf_eps").set_value(0.5).run()
    after = {m.label: m.value for m in at.metric}
    assert not at.exception
    assert set(before) >= {"achieved risk", "fraction answered", "violation rate"}
    assert before != after  # a looser target answers more questions


def test_inspector_shows_seeded_question_and_escapes_text(run_path):
    ids = pd.read_parquet(Path(run_path) / "questions.parquet")["id"].tolist()
    target = ids[3]
    at = page("pages/6_Question_inspector.py", run_path, uq_question_id=target)
    assert at.selectbox(key="qi_question").value == target
    shown = [t.value for t in at.text]
    assert shown[0].startswith(target)
    # untrusted text never goes through markdown
    markdown = " ".join(m.value for m in at.markdown)
    assert shown[1] not in markdown
    assert "<script>" not in markdown and "<b>Land" not in markdown
    assert any(d.value is not None and "cluster" in d.value.columns for d in at.dataframe)
    assert any(t.startswith("Samples by meaning") for t in chart_titles(at))


def test_inspector_search_narrows_choices(run_path):
    at = page("pages/6_Question_inspector.py", run_path)
    n = len(at.selectbox(key="qi_question").options)
    text = pd.read_parquet(Path(run_path) / "questions.parquet")["text"].iloc[-1]
    at.text_input(key="qi_search").input(text[:40]).run()
    assert len(at.selectbox(key="qi_question").options) < n
    assert not at.exception


def test_new_run_validates_the_name(runs_dir):
    at = AppTest.from_file(str(REPO / "pages/7_New_run.py"), default_timeout=TIMEOUT).run()
    assert at.button(key="nr_start").disabled
    at.text_input(key="nr_name").input("../escape").run()
    assert any("not allowed" in w.value for w in at.warning)
    at.text_input(key="nr_name").input("fixture").run()
    assert any("already exists" in w.value for w in at.warning)
    at.text_input(key="nr_name").input("fresh-run_1").run()
    assert not any("run name" in w.value or "already exists" in w.value for w in at.warning)
    assert not at.exception
    # an API key typed in is held in memory only: never in the visible session-state keys
    at.radio(key="nr_backend").set_value("openai").run()
    pw = [t for t in at.text_input if t.label.startswith("API key")]
    assert pw and pw[0].key is None
    pw[0].input("sk-secret-123").run()
    assert not at.exception
    assert "sk-secret-123" not in repr(at.session_state)
    assert any("model name" in w.value for w in at.warning)
