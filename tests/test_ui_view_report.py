"""uq_core.view helpers, uq_core.plots figures and the standalone HTML report, without a browser."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixture_run import build_fixture_run  # noqa: E402

from uq_core import view  # noqa: E402
from uq_core.plots import agreement, conformal, evaluation, fragility, geometry, inspector, overview  # noqa: E402
from uq_core.report import build_report  # noqa: E402
from uq_core.store import Run  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    return Run.open(build_fixture_run(tmp_path_factory.mktemp("vr") / "fixture", n=24, seed=1))


def test_confident_hallucinations_by_hand():
    scores = pd.DataFrame({"setting": ["ref"] * 5, "question_id": list("abcde"),
                           "m1": [0.1, 0.2, 0.3, 0.4, 0.5], "m2": [0.2, 0.1, 0.5, 0.3, np.nan],
                           "dead": [np.nan] * 5, "hidden_probe": [0.9, 0.9, 0.0, 0.0, 0.0]})
    labels = pd.Series(["wrong", "right", "wrong", "right", "unverifiable"], index=list("abcde"))
    ch = view.confident_hallucinations(scores, labels, q=50)
    # labelled a-d; mean percentile (m1, m2): a 25/50, b 50/25, c 75/100, d 100/75 -> a, b most sure; a wrong.
    # The supervised probe (it learns from the labels) is not part of the unsupervised consensus.
    assert ch["methods"] == ["m1", "m2"]
    assert (ch["n"], ch["count"], ch["question_ids"], ch["base_rate"]) == (2, 1, ["a"], 0.5)
    assert view.ch_sentence(ch) == ("50% of the answers the methods were most sure about are wrong (1 of 2; "
                                    "50% of all answers are wrong)")
    none = view.confident_hallucinations(scores, pd.Series(["unverifiable"] * 5, index=list("abcde")))
    assert none["rate"] is None and "cannot be computed" in view.ch_sentence(none)


def test_conformal_qhat_and_set():
    clusters = pd.DataFrame({"question_id": ["a", "b", "c"], "setting": "ref", "rule": "cosine", "tau": 0.85,
                             "cluster_ids": [[0, 0, 0, 1], [0, 1, 1, 1], [0, 1, 2, 3]]})
    ver = pd.DataFrame({"question_id": ["a"] * 4 + ["b"] * 4 + ["c"] * 4, "setting": "ref", "kind": "sample",
                        "index": [0, 1, 2, 3] * 3,
                        "label": ["right"] * 3 + ["wrong"] + ["right"] + ["wrong"] * 3 + ["wrong"] * 4})
    # scores: a -> 1 - 3/4 = 0.25; b -> 1 - 1/4 = 0.75; c uncoverable. n=2, alpha 0.5: k=ceil(1.5)=2 -> 0.75
    assert view.conformal_qhat(clusters, ver, alpha=0.5) == pytest.approx(0.75)
    assert view.conformal_qhat(clusters, ver, alpha=0.1) == 1.0  # k > n: the set must hold everything
    assert view.conformal_set([0, 0, 0, 1], 0.25) == [0]
    assert view.conformal_set([0, 1, 1, 1], 0.75) == [1, 0]
    assert view.conformal_set([], 0.5) == []


def test_question_table_and_percentiles(run):
    qt = view.question_table(run.table("questions"), run.table("generations"), run.table("verification"),
                             run.table("scores"))
    assert len(qt) == 24 and qt["question_id"].is_unique
    assert {"question", "answer", "verdict", "p_true", "p_true pct"} <= set(qt.columns)
    assert qt["p_true pct"].between(0, 100).all()
    assert qt["mean_token_entropy pct"].isna().all()  # unavailable stays NaN, never 0


def test_tables_from_analyses(run):
    ov = run.json("analyses/overlap.json")
    pt = view.paper_table(ov)
    assert isinstance(pt, pd.DataFrame) and len(pt) >= 3
    pairs = view.pairs_table(ov)
    n = len(ov["methods"])
    assert len(pairs) == n * (n - 1) // 2 + 1 and list(pairs.columns) == ["10%", "20%", "30%"]
    assert pairs.loc["random (two independent rankings)", "20%"] == pytest.approx(0.2 / 1.8)
    mat = view.overlap_matrix(ov, 20)
    assert np.allclose(np.diag(mat), 1) and np.allclose(mat, mat.T)
    ft = view.flagged_table(ov, 20)
    assert ft["n_methods"].between(1, len(ov["methods"])).all()
    fr = view.fragility_table(run.json("analyses/fragility.json"), "tau")
    assert (fr["range_auroc"] >= 0).all()
    sep = view.separation_table(run.json("analyses/geometry.json"), "L8", "p_true")
    assert list(sep.columns) == ["confidence (full)", "confidence (2D)", "correctness (full)", "correctness (2D)"]
    h = view.headline(run.json("analyses/evaluation.json"), {"rate": None})
    assert h["best"]["auroc"] >= h["worst"]["auroc"]


def test_every_figure_builds(run):
    ev, curves = run.json("analyses/evaluation.json"), run.json("analyses/curves.json")
    mt = view.method_table(ev)
    qt = view.question_table(run.table("questions"), run.table("generations"), run.table("verification"),
                             run.table("scores"))
    ms = view.available_methods(run.table("scores"))
    ov, fr, cj = run.json("analyses/overlap.json"), run.json("analyses/fragility.json"), run.json(
        "analyses/conformal.json")
    pts = view.umap_points(run.table("analyses/umap"), "L8", qt, "p_true")
    sv = view.samples_view(run.table("generations"), run.table("verification"), run.table("stats/clusters"),
                           qt["question_id"][0])
    idx = {t: i for i, t in enumerate(run.table("stats/embedding_texts")["text"])}
    sim = view.cosine_matrix(sv["text"].tolist(), run.array("stats/embeddings.npy"), idx)
    figs = [overview.auroc_forest(mt), overview.confidence_vs_correctness(qt, ms),
            geometry.umap_map(pts, "confidence", True, "p_true"), geometry.umap_map(pts, "correctness"),
            agreement.overlap_heatmap(view.overlap_matrix(ov, 10), 10, ov["random"]["10"]),
            agreement.corr_heatmap(view.corr_matrix(ov, "kendall"), "kendall"),
            fragility.sweep_lines(fr, "n_samples"), evaluation.metric_bars(mt, "prr"),
            evaluation.per_dataset_heatmap(view.per_dataset_table(ev)), evaluation.roc_curves(curves, ms),
            evaluation.rac_curves(curves, ms), evaluation.calibration(curves, ms),
            evaluation.judge_vs_verifier(run.json("analyses/judge.json")), conformal.coverage_plot(cj),
            conformal.set_size_plot(cj), conformal.risk_plot(cj["risk_control"]["grid"], 0.2),
            inspector.similarity_graph(sv, sim), inspector.score_percentiles(qt.iloc[0], ms)]
    for f in figs:
        assert isinstance(f, go.Figure) and len(f.data) >= 1, f.layout.title.text
    assert np.allclose(np.diag(sim), 1, atol=1e-2)
    # confident hallucinations get their own trace with the X marker
    ch = [t for t in figs[3].data if t.name == "confident hallucination"]
    assert (len(ch) == 1 and ch[0].marker.symbol == "circle-open") == bool(pts["confident_hallucination"].any())


def test_empty_inputs_give_an_explaining_figure():
    f = overview.auroc_forest(pd.DataFrame(columns=["method", "available", "auroc", "auroc_lo", "auroc_hi"]))
    assert not f.data and "No method" in f.layout.annotations[0].text
    assert "No 'tau' sweep" in fragility.sweep_lines({"sweeps": {}}, "tau").layout.annotations[0].text
    assert "not run" in evaluation.judge_vs_verifier({"available": False}).layout.annotations[0].text


def test_report_is_self_contained_and_escaped(run):
    html_text = build_report(run)
    assert html_text.startswith("<!DOCTYPE html>")
    assert html_text.count("plotly.js v") == 1  # plotly.js inlined exactly once
    assert "<script src=" not in html_text and "<link " not in html_text  # nothing fetched from a server
    assert html_text.count("Plotly.newPlot") >= 10
    assert '<script>alert("x")</script>' not in html_text and "<b>Land" not in html_text
    assert "&lt;b&gt;Land" in html_text
    assert "most sure about are wrong" in html_text


def test_core_display_modules_do_not_import_streamlit():
    import subprocess

    code = ("import sys, uq_core.view, uq_core.report\n"
            "from uq_core.plots import agreement, conformal, evaluation, fragility, geometry, inspector, overview\n"
            "print('streamlit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "False"
