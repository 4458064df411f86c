"""Conformal answer sets and risk-controlled selective answering (uq_core.analyses.conformal / risk)."""
from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pytest

from uq_core.analyses.conformal import (ALPHAS, cluster_scores, conformal_quantile, conformal_run,
                                        split_conformal, summary_conformal)
from uq_core.analyses.risk import ltt_thresholds, risk_control
from uq_core.schema import GENERATION_COLUMNS, VERIFICATION_COLUMNS
from uq_core.store import Run, RunError, write_table


# ---------------------------------------------------------------- pure functions
def test_quantile_is_the_ceil_n_plus_1_order_statistic():
    s = np.arange(1.0, 10.0)  # n = 9
    assert conformal_quantile(s[::-1], 0.1) == 9.0  # k = ceil(10 * 0.9) = 9
    assert conformal_quantile(s, 0.5) == 5.0  # k = ceil(5.0) = 5 (no float round-up to 6)
    assert conformal_quantile(s, 0.05) == math.inf  # k = 10 > n
    assert conformal_quantile([], 0.1) == math.inf


def test_cluster_scores_by_hand():
    cids = [np.array([0, 0, 1, 2, 0]), np.array([0, 1, 1, 1])]
    right = [np.array([0, 0, 1, 0, 1], bool), np.array([0, 0, 0, 0], bool)]
    S, true = cluster_scores(cids, right)
    np.testing.assert_allclose(S[0], [0.4, 0.8, 0.8])
    np.testing.assert_allclose(S[1, :2], [0.75, 0.25])
    assert S[1, 2] == np.inf  # padding
    assert true[0] == pytest.approx(0.4)  # most frequent correct cluster (cluster 0 holds a right sample)
    assert true[1] == np.inf  # no right sample: uncoverable
    S_w, true_w = cluster_scores(cids[:1], right[:1], [np.array([1, 1, 6, 1, 1.0])])
    np.testing.assert_allclose(S_w[0], [0.7, 0.4, 0.9])
    assert true_w[0] == pytest.approx(0.4)


def _exchangeable(n=1000, k=6, p_uncov=0.1, seed=0):
    rng = np.random.default_rng(seed)
    S = rng.random((n, k))
    true = S[np.arange(n), rng.integers(0, k, n)]
    true[rng.random(n) < p_uncov] = np.inf
    return S, true


@pytest.mark.parametrize("alpha", [0.1, 0.2, 0.3])
def test_coverage_matches_target_on_exchangeable_data(alpha):
    S, true = _exchangeable()
    res = split_conformal(S, true, [alpha], n_splits=200, seed=1)
    assert abs(res["coverage"][0] - (1 - alpha)) <= 0.02
    # uncoverable questions (10%) are never covered: coverage over all test questions is lower
    assert res["coverage_all"][0] < res["coverage"][0] - 0.05
    assert res["coverage_sd"][0] > 0


def test_set_size_grows_as_alpha_shrinks_and_tracks_greedy_correctness():
    S, true = _exchangeable(p_uncov=0.0)
    g = (np.arange(len(true)) % 2).astype(float)
    res = split_conformal(S, true, ALPHAS, n_splits=20, seed=0, greedy_right=g)
    assert all(a >= b - 1e-9 for a, b in zip(res["mean_set_size"], res["mean_set_size"][1:]))
    assert np.isfinite(res["set_size_right"]).all() and np.isfinite(res["set_size_wrong"]).all()


def test_split_conformal_rejects_nothing_coverable():
    with pytest.raises(ValueError, match="no coverable"):
        split_conformal(np.zeros((10, 2)), np.full(10, np.inf))


def _population_risk(lam):
    # conf ~ U(0, 1), P(wrong | c) = 0.6 (1 - c): risk among answered {c >= lam} = 0.3 (1 - lam)
    return 0.3 * (1 - np.clip(lam, 0, 1))


@pytest.mark.parametrize("eps,delta,n_cal", [(0.1, 0.05, 1000), (0.2, 0.1, 400), (0.3, 0.05, 400)])
def test_ltt_controls_population_risk(eps, delta, n_cal):
    """Population (not test-sample) risk at the certified threshold exceeds eps in <= delta of draws.

    Slack 0.03: two standard errors of a violation rate estimated from 200 calibration draws
    (sqrt(0.1 * 0.9 / 200) = 0.021 at most for delta <= 0.1).
    """
    rng = np.random.default_rng(3)
    conf = rng.random((200, n_cal))
    wrong = (rng.random((200, n_cal)) < 0.6 * (1 - conf)).astype(float)
    thr = ltt_thresholds(conf, wrong, eps, delta)
    assert np.isfinite(thr).mean() > 0.8  # it does certify something: not a test that passes by abstaining
    viol = _population_risk(np.where(np.isfinite(thr), thr, 1.0)) > eps
    assert viol.mean() <= delta + 0.03


def test_start_count():
    from scipy.stats import binom

    from uq_core.analyses.risk import start_count
    n = start_count(0.1, 0.05)
    assert binom.cdf(1, n, 0.1) <= 0.05 < binom.cdf(1, n - 1, 0.1)


def test_risk_control_on_test_splits_and_speed():
    """Empirical test risk <= eps in >= 1 - delta of splits (slack 0.03, as above; the finite test half adds
    noise, which LTT's conservatism absorbs)."""
    rng = np.random.default_rng(4)
    conf = rng.random(2000)
    wrong = (rng.random(2000) < 0.6 * (1 - conf)).astype(float)
    r = risk_control(conf, wrong, 0.1, 0.05, n_splits=200, seed=0)
    assert r["violation_rate"] <= 0.05 + 0.03
    assert r["certified_rate"] > 0.9 and 0 < r["fraction_answered"] < 1
    assert r["achieved_risk"] <= 0.1
    c5, w5 = conf[:500], wrong[:500]
    risk_control(c5, w5, 0.2, 0.1, 100, 0)
    t0 = time.perf_counter()
    risk_control(c5, w5, 0.2, 0.1, 100, 0)
    assert time.perf_counter() - t0 < 0.3


def test_risk_control_abstains_when_nothing_can_be_certified():
    conf = np.linspace(0, 1, 40)
    r = risk_control(conf, np.ones(40), 0.1, 0.05, n_splits=10, seed=0)
    assert r["certified_rate"] == 0 and r["fraction_answered"] == 0 and math.isnan(r["threshold"])
    assert r["violation_rate"] == 0


@pytest.mark.parametrize("kw,msg", [({"epsilon": 1.5}, "epsilon"), ({"delta": 0}, "delta"),
                                    ({"wrong": np.full(10, 2.0)}, "only 0"), ({"conf": np.full(10, np.nan)}, "NaN")])
def test_risk_control_bad_input(kw, msg):
    args = {"conf": np.arange(10.0), "wrong": np.zeros(10), "epsilon": 0.1, "delta": 0.1, **kw}
    with pytest.raises(ValueError, match=msg):
        risk_control(**args)


# ---------------------------------------------------------------- run level
def _tiny_run(path, n=40, m=5, logprobs=True, seed=0):
    """A fabricated run: generations, verification, stats/clusters.parquet, scores.parquet."""
    rng = np.random.default_rng(seed)
    run = Run.create(path, {}, "fabricated", ["x"], seed)
    qids = [f"q{i:03d}" for i in range(n)]
    gens, ver, cl = [], [], []
    for i, q in enumerate(qids):
        cids = rng.integers(0, 3, m)
        cids = np.unique(cids, return_inverse=True)[1]  # ids 0..k-1 in order of first use
        right_cluster = -1 if i < 4 else int(cids[0])  # the first 4 questions have no right sample
        gens.append((q, "ref", "greedy", 0, "g", [-0.1], [], 1, "stop", 0.0, 1.0, "t", 0))
        ver.append((q, "ref", "greedy", 0, "right" if i % 2 else "wrong", "exact", ""))
        for j in range(m):
            lp = [float(-rng.random())] if logprobs else []
            gens.append((q, "ref", "sample", j, f"s{cids[j]}", lp, [], len(lp), "stop", 1.0, 1.0, "t", j))
            ver.append((q, "ref", "sample", j, "right" if cids[j] == right_cluster else "wrong", "exact", ""))
        cl.append((q, "ref", "cosine", 0.85, cids.tolist()))
        cl.append((q, "ref", "cosine", 0.9, [0] * m))
    run.write("generations", pd.DataFrame(gens, columns=GENERATION_COLUMNS))
    run.write("verification", pd.DataFrame(ver, columns=VERIFICATION_COLUMNS))
    write_table(run.path / "stats/clusters.parquet",
                pd.DataFrame(cl, columns=["question_id", "setting", "rule", "tau", "cluster_ids"]))
    scores = pd.DataFrame({"setting": "ref", "question_id": qids, "semantic_entropy": rng.random(n),
                           "eigv": rng.random(n), "p_true": np.nan})
    write_table(run.path / "scores.parquet", scores)
    run.write_json("stats/methods.json", {"p_true": {"available": False, "reason": "no self_eval"}})
    return run


def test_conformal_run_writes_contract(tmp_path):
    run = _tiny_run(tmp_path / "r")
    out = conformal_run(run, n_splits=20)
    saved = json.loads((run.path / "analyses/conformal.json").read_text())
    assert saved == out
    for k in ("n_splits", "alphas", "scores", "n_coverable", "uncoverable", "risk_control"):
        assert k in out
    assert set(out["scores"]) == {"frequency", "prob_weighted_frequency"}
    for s in out["scores"].values():
        for k in ("description", "coverage", "coverage_sd", "mean_set_size", "set_size_right", "set_size_wrong"):
            assert len(s[k]) == len(out["alphas"]) if k != "description" else s[k]
        assert all(c is None or 0 <= c <= 1 for c in s["coverage"])
    assert out["uncoverable"] == {"count": 4, "question_ids": ["q000", "q001", "q002", "q003"]}
    assert out["n_coverable"] == 36
    rc = out["risk_control"]
    assert rc["method"] == "semantic_entropy" and len(rc["grid"]) == 6
    assert set(rc["grid"][0]) >= {"epsilon", "delta", "threshold", "achieved_risk", "fraction_answered",
                                  "violation_rate"}
    summ = summary_conformal(out)
    assert summ["uncoverable"] == 4 and set(summ["scores"]["frequency"]["coverage"]) == {str(a) for a in ALPHAS}


def test_conformal_run_without_logprobs_and_bad_inputs(tmp_path):
    run = _tiny_run(tmp_path / "r", logprobs=False)
    out = conformal_run(run, n_splits=5)
    assert list(out["scores"]) == ["frequency"] and "prob_weighted_frequency" in out["scores_unavailable"]
    with pytest.raises(RunError, match="tau=0.5"):
        conformal_run(run, n_splits=5, tau=0.5)
    with pytest.raises(RunError, match="no method 'nope'"):
        conformal_run(run, method="nope", n_splits=5)
