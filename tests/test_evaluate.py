"""Evaluation against verified truth: metrics vs scikit-learn / hand values, bootstrap, run output."""
import json
import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from uq_core.evaluate import (calibration, confident_hallucination, evaluate_run, metric_arrays, metrics_with_ci)
from uq_core.methods import ScoreConfig, compute_and_store
from uq_core.store import RunError
from uq_core.synthetic import make_run_from_answers, make_synthetic_run


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auroc_auprc_match_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    u = np.round(rng.normal(size=300), 1)                 # many ties
    right = (rng.random(300) < 0.6).astype(float)
    m = metric_arrays(u, right)
    assert m["auroc"][0] == pytest.approx(roc_auc_score(1 - right, u))
    assert m["auprc"][0] == pytest.approx(average_precision_score(1 - right, u))
    idx = rng.integers(0, 300, size=(4, 300))
    boot = metric_arrays(u, right, idx)
    for b in range(4):
        assert boot["auroc"][b] == pytest.approx(roc_auc_score(1 - right[idx[b]], u[idx[b]]))


def test_prr_oracle_random_and_hand_aurac():
    rng = np.random.default_rng(0)
    right = (rng.random(400) < 0.7).astype(float)
    assert metric_arrays(-right, right)["prr"][0] == pytest.approx(1.0)
    assert metric_arrays(right, right)["prr"][0] < -0.9                   # anti-oracle
    rand = [metric_arrays(rng.random(400), right)["prr"][0] for _ in range(30)]
    assert abs(np.mean(rand)) < 0.05
    assert metric_arrays(np.zeros(400), right)["prr"][0] == pytest.approx(0.0, abs=1e-12)   # all tied
    m = metric_arrays(np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 1.0]))
    assert m["aurac"][0] == pytest.approx((1 + 0.5 + 2 / 3) / 3)
    oracle = (1 + 1 + 2 / 3) / 3
    assert m["prr"][0] == pytest.approx((m["aurac"][0] - 2 / 3) / (oracle - 2 / 3))


def test_confident_hallucination_and_single_class():
    right = np.array([0.0] + [1.0] * 9)
    m = metric_arrays(np.arange(10.0), right)
    assert confident_hallucination(m["acc_curve"][0], 10) == (1.0, 1.0, 1)
    assert confident_hallucination(m["acc_curve"][0], 20) == (0.5, 1.0, 2)
    assert math.isnan(metric_arrays(np.arange(5.0), np.ones(5))["auroc"][0])


def test_bootstrap_interval_seeded():
    rng = np.random.default_rng(5)
    right = (rng.random(200) < 0.5).astype(float)
    u = rng.normal(size=200) - right
    a, b = metrics_with_ci(u, right, 1000, seed=1), metrics_with_ci(u, right, 1000, seed=1)
    assert a["auroc_ci"] == b["auroc_ci"] and a["auroc_ci"][0] < a["auroc"] < a["auroc_ci"][1]
    assert 0.03 < a["auroc_ci"][1] - a["auroc_ci"][0] < 0.3


def test_calibration_isotonic_held_out():
    rng = np.random.default_rng(0)
    p = rng.random(4000)
    right = (rng.random(4000) < p).astype(float)
    cal = calibration(-p, right, seed=0)           # U = -p: perfectly informative, calibrated after isotonic
    assert cal["ece"] < 0.05 and 0.1 < cal["brier"] < 0.2 and sum(cal["count"]) == 2000


def test_evaluate_run_contract(tmp_path):
    run = make_synthetic_run(tmp_path / "r", n_questions=60, m=6, seed=1)
    with pytest.raises(RunError, match="scores.parquet"):
        evaluate_run(run)
    compute_and_store(run, ScoreConfig())
    ev = evaluate_run(run, n_boot=200)
    text = (run.path / "analyses/evaluation.json").read_text()
    def no_nan(c):
        raise AssertionError(f"{c} written to JSON (must be null)")
    assert json.loads(text, parse_constant=no_nan)["n_questions"] == 60
    labels = run.table("verification").query("kind == 'greedy'")["label"]
    assert ev["n_labelled"] == int((labels != "unverifiable").sum())
    e = ev["methods"]["semantic_entropy"]
    for k in ("auroc", "auroc_ci", "auprc", "prr", "prr_ci", "aurac", "ece", "brier", "ch_rate_10", "ch_count_20",
              "ch_n_20", "per_dataset", "worst_dataset", "family", "description", "available", "reason"):
        assert k in e
    assert set(e["per_dataset"]) == {"trivia", "math"}
    assert e["worst_dataset"]["auroc"] == min(d["auroc"] for d in e["per_dataset"].values())
    curves = run.json("analyses/curves.json")
    assert set(curves["msp"]) == {"roc", "rac", "calibration"} and curves["msp"]["rac"]["kept"][-1] == 1.0


def test_unverifiable_excluded_and_unavailable_reported(tmp_path):
    answers = {f"q{i}": ["a", "b" if i % 2 else "a"] for i in range(8)}
    labels = {f"q{i}": ("wrong" if i % 2 else "right") for i in range(8)}
    labels["q0"] = "unverifiable"
    run = make_run_from_answers(tmp_path / "r", answers, labels=labels)
    compute_and_store(run, ScoreConfig(rule="exact"), embedder=lambda t: np.eye(len(t), 384, dtype=np.float32))
    ev = evaluate_run(run, n_boot=100)
    assert ev["n_labelled"] == 7 and ev["accuracy"] == pytest.approx(3 / 7)
    assert ev["methods"]["num_sets"]["auroc"] == pytest.approx(1.0)
    assert ev["methods"]["msp"]["available"] is False and "log-probs" in ev["methods"]["msp"]["reason"]
    assert ev["methods"]["msp"]["auroc"] is None
