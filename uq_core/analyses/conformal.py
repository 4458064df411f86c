"""Split-conformal answer sets over clustered samples (ConU-style) and selective answering.

Per question, the m sampled answers are grouped by the reference clustering (rule 'cosine', tau 0.85,
from stats/clusters.parquet). A cluster is correct if any of its samples is verified right
('unverifiable' samples count as not right; questions whose samples are all unverifiable are left out).
Nonconformity scores of a cluster C (lower = more plausible):

- ``frequency``: 1 - |C| / m.
- ``prob_weighted_frequency``: 1 - sum_{j in C} w_j, with w_j = exp(mean token log-prob of sample j)
  normalised to sum 1 over the question's samples (each sample weighted by its geometric-mean token
  probability). Needs the samples' token log-probs; left out when the run has none.

A question's calibration score is the lowest score among its correct clusters (the most frequent
correct cluster for ``frequency``): the set covers the truth iff that score <= q_hat. Calibration uses
the coverable questions (>= 1 right sample) of a random 50/50 split; q_hat = the k-th smallest of the n
calibration scores, k = ceil((n + 1)(1 - alpha)) (q_hat = +inf, every cluster, when k > n). The prediction
set of a test question = its clusters with score <= q_hat. Reported per alpha over the splits:
``coverage`` over the coverable test questions (the guarantee's population), ``coverage_all`` over all
test questions (uncoverable ones can never be covered: the gap), set sizes over all test questions.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..schema import REF_SETTING
from ..store import RunError
from ._load import available_methods, clean, greedy_labels, ref_scores, wrong_indicator
from .risk import random_splits, risk_control

ALPHAS = tuple(round(0.05 * i, 2) for i in range(1, 11))
EPSILONS = (0.1, 0.2, 0.3)
DELTAS = (0.05, 0.1)
SCORE_DESCRIPTIONS = {
    "frequency": "1 - cluster frequency |C|/m",
    "prob_weighted_frequency": "1 - probability-weighted cluster frequency: samples weighted by exp(mean token "
                               "log-prob), weights normalised to sum 1 per question",
}


def conformal_quantile(cal_scores, alpha: float) -> float:
    """q_hat: the ceil((n+1)(1-alpha))-th smallest calibration score; +inf when that exceeds n (or n = 0)."""
    s = np.sort(np.asarray(cal_scores, dtype=np.float64))
    k = math.ceil((len(s) + 1) * (1 - alpha) - 1e-9)
    return float(s[k - 1]) if 1 <= k <= len(s) else float("inf")


def cluster_scores(cluster_ids: list, right: list, weights: list | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Padded cluster scores and each question's true score.

    Parameters
    ----------
    cluster_ids : list of int arrays (m_i,) per question, aligned with sample index.
    right : list of bool arrays (m_i,): sample verified right.
    weights : list of float arrays (m_i,) or None
        Sample weights (normalised per question); None = equal weights (``frequency``).

    Returns
    -------
    S : float (n_q, K) score 1 - weight share of each cluster, +inf padding.
    true : float (n_q,) lowest score among correct clusters; +inf when no sample is right.
    """
    K = max((int(np.max(c)) + 1 for c in cluster_ids if len(c)), default=1)
    S = np.full((len(cluster_ids), K), np.inf)
    true = np.full(len(cluster_ids), np.inf)
    for i, c in enumerate(cluster_ids):
        c = np.asarray(c, dtype=int)
        if not len(c):
            continue
        w = np.ones(len(c)) if weights is None else np.asarray(weights[i], dtype=np.float64)
        share = np.bincount(c, weights=w / w.sum(), minlength=K)
        used = np.bincount(c, minlength=K) > 0
        S[i, used] = 1 - share[used]
        ok = np.asarray(right[i], dtype=bool)
        if ok.any():
            true[i] = S[i, np.unique(c[ok])].min()
    return S, true


def split_conformal(S: np.ndarray, true: np.ndarray, alphas=ALPHAS, n_splits: int = 200, seed: int = 0,
                    greedy_right: np.ndarray | None = None, cal_frac: float = 0.5) -> dict:
    """Coverage and set size of split-conformal sets over random calibration/test splits.

    Parameters
    ----------
    S : float (n_q, K) cluster scores, +inf padding. true : float (n_q,) true score, +inf = uncoverable.
    greedy_right : float (n_q,) 1 right / 0 wrong / NaN unknown, for set size by greedy correctness.

    Returns
    -------
    dict of per-alpha lists: coverage, coverage_sd (coverable test questions), coverage_all,
    coverage_all_sd (all test questions), mean_set_size, set_size_right, set_size_wrong.
    """
    S, true = np.asarray(S, float), np.asarray(true, float)
    n = len(true)
    if S.shape[0] != n or n < 4:
        raise ValueError(f"need S (n, K) and true (n,) with n >= 4; got {S.shape} and {true.shape}")
    if not np.isfinite(true).any():
        raise ValueError("no coverable question (no sample verified right): nothing to calibrate on")
    alphas = np.asarray(alphas, float)
    g = np.full(n, np.nan) if greedy_right is None else np.asarray(greedy_right, float)
    n_cal = min(n - 1, max(1, int(round(cal_frac * n))))
    perm = random_splits(n, n_splits, seed)
    cov, cov_all, size, size_r, size_w = (np.full((n_splits, len(alphas)), np.nan) for _ in range(5))
    n_real = np.isfinite(S).sum(axis=1)
    for s in range(n_splits):
        cal, test = perm[s, :n_cal], perm[s, n_cal:]
        cs = true[cal][np.isfinite(true[cal])]
        qh = np.array([conformal_quantile(cs, a) for a in alphas])
        tt = true[test]
        hit = tt[None, :] <= qh[:, None] + 1e-12
        fin = np.isfinite(tt)
        if fin.any():
            cov[s] = hit[:, fin].mean(axis=1)
        cov_all[s] = hit.mean(axis=1)
        sz = np.where(np.isinf(qh)[:, None], n_real[test][None, :],
                      (S[test][None, :, :] <= qh[:, None, None] + 1e-12).sum(axis=2))
        size[s] = sz.mean(axis=1)
        gt = g[test]
        if (gt == 1).any():
            size_r[s] = sz[:, gt == 1].mean(axis=1)
        if (gt == 0).any():
            size_w[s] = sz[:, gt == 0].mean(axis=1)

    def mean(a):
        return [float(x) if np.isfinite(x) else float("nan") for x in _nanmean(a)]

    return {"coverage": mean(cov), "coverage_sd": [float(x) for x in _nanstd(cov)],
            "coverage_all": mean(cov_all), "coverage_all_sd": [float(x) for x in _nanstd(cov_all)],
            "mean_set_size": mean(size), "set_size_right": mean(size_r), "set_size_wrong": mean(size_w)}


def _nanmean(a: np.ndarray) -> np.ndarray:
    ok = np.isfinite(a)
    return np.where(ok.any(axis=0), np.nansum(a, axis=0) / np.maximum(ok.sum(axis=0), 1), np.nan)


def _nanstd(a: np.ndarray) -> np.ndarray:
    ok = np.isfinite(a)
    m = _nanmean(a)
    v = np.nansum(np.where(ok, (a - m) ** 2, 0.0), axis=0) / np.maximum(ok.sum(axis=0) - 1, 1)
    return np.where(ok.sum(axis=0) > 1, np.sqrt(v), np.nan)


def _sample_weights(logprobs: list) -> np.ndarray | None:
    if any(lp is None or len(lp) == 0 for lp in logprobs):
        return None
    return np.exp([float(np.mean(lp)) for lp in logprobs])


def load_clustered(run, rule: str = "cosine", tau: float = 0.85, setting: str = REF_SETTING) -> pd.DataFrame:
    """Per question: cluster_ids, right (bool per sample), weights (or None); questions with a verifiable sample."""
    if not run.has("stats/clusters.parquet"):
        raise RunError(f"{run.path}: no stats/clusters.parquet; compute the statistics first")
    from ..store import read_table

    cl = read_table(run.path / "stats/clusters.parquet", ["question_id", "setting", "rule", "tau", "cluster_ids"])
    cl = cl[(cl["setting"] == setting) & (cl["rule"] == rule)]
    if rule == "cosine" or cl["tau"].notna().any():
        cl = cl[np.isclose(cl["tau"].astype(float), tau)]
    if cl.empty:
        raise RunError(f"{run.path / 'stats/clusters.parquet'}: no clusters for setting={setting!r}, rule={rule!r}, "
                       f"tau={tau}")
    v = run.table("verification")
    v = v[(v["setting"] == setting) & (v["kind"] == "sample")]
    lab = {(q, int(i)): l for q, i, l in zip(v["question_id"], v["index"], v["label"])}
    g = run.table("generations")
    g = g[(g["setting"] == setting) & (g["kind"] == "sample")]
    lps = {(q, int(i)): lp for q, i, lp in zip(g["question_id"], g["index"], g["token_logprobs"])}
    rows = []
    for qid, cids in zip(cl["question_id"], cl["cluster_ids"]):
        cids = np.asarray(cids, dtype=int)
        labels = [lab.get((qid, j), "unverifiable") for j in range(len(cids))]
        if not len(cids) or all(x == "unverifiable" for x in labels):
            continue
        w = _sample_weights([lps.get((qid, j)) for j in range(len(cids))])
        rows.append({"question_id": qid, "cluster_ids": cids, "right": np.array([x == "right" for x in labels]),
                     "weights": w})
    if not rows:
        raise RunError(f"{run.path}: no question has verified samples for setting {setting!r}")
    return pd.DataFrame(rows)


def risk_grid(conf: np.ndarray, wrong: np.ndarray, n_splits: int, seed: int) -> list[dict]:
    """risk_control over EPSILONS x DELTAS; threshold reported on the U scale (answer when U <= threshold)."""
    grid = []
    for eps in EPSILONS:
        for d in DELTAS:
            r = risk_control(conf, wrong, eps, d, n_splits, seed)
            grid.append({"epsilon": eps, "delta": d, "threshold": -r["threshold"], "achieved_risk": r["achieved_risk"],
                         "fraction_answered": r["fraction_answered"], "violation_rate": r["violation_rate"],
                         "certified_rate": r["certified_rate"]})
    return grid


def conformal_run(run, method: str | None = None, n_splits: int = 200, seed: int | None = None,
                  rule: str = "cosine", tau: float = 0.85) -> dict:
    """Conformal sets + risk control for *run*; writes analyses/conformal.json and returns the dict.

    *method* is the confidence (-U) for selective answering: default semantic_entropy, else the first
    available method. Extra keys beyond the contract: coverage_all(_sd) per score, "clustering",
    "scores_unavailable", and in "risk_control": "rule", "n", per-grid "certified_rate".
    """
    seed = int(run.manifest.get("seed", 0) if seed is None else seed)
    data = load_clustered(run, rule, tau)
    labels = greedy_labels(run)
    greedy_right = 1 - wrong_indicator(labels).reindex(data["question_id"]).to_numpy(float)
    scores, unavailable = {}, {}
    weight_sets = {"frequency": None}
    if all(w is not None for w in data["weights"]):
        weight_sets["prob_weighted_frequency"] = list(data["weights"])
    else:
        unavailable["prob_weighted_frequency"] = "some samples have no token log-probs"
    true = None
    for name, weights in weight_sets.items():
        S, t = cluster_scores(list(data["cluster_ids"]), list(data["right"]), weights)
        true = t if true is None else true
        res = split_conformal(S, t, ALPHAS, n_splits, seed, greedy_right)
        scores[name] = {"description": SCORE_DESCRIPTIONS[name], **res}
    uncov = data["question_id"][~np.isfinite(true)].tolist()
    out = {"n_splits": n_splits, "alphas": list(ALPHAS), "scores": scores, "n_questions": len(data),
           "n_coverable": int(np.isfinite(true).sum()), "uncoverable": {"count": len(uncov), "question_ids": uncov},
           "clustering": {"rule": rule, "tau": tau}, "scores_unavailable": unavailable,
           "risk_control": _risk_block(run, labels, method, n_splits, seed)}
    out = clean(out)
    run.write_json("analyses/conformal.json", out)
    return out


def _risk_block(run, labels: pd.Series, method: str | None, n_splits: int, seed: int) -> dict:
    sc = ref_scores(run)
    avail = available_methods(run, sc)
    if method is None:
        method = "semantic_entropy" if "semantic_entropy" in avail else (avail[0] if avail else None)
    if method is None:
        return {"method": None, "reason": "no available method", "grid": []}
    if method not in sc.columns:
        raise RunError(f"{run.path / 'scores.parquet'}: no method {method!r}; available: {', '.join(avail)}")
    y = wrong_indicator(labels).reindex(sc.index).to_numpy(float)
    u = sc[method].to_numpy(float)
    ok = np.isfinite(u) & np.isfinite(y)
    if ok.sum() < 4:
        return {"method": method, "reason": f"only {int(ok.sum())} labelled, scored questions", "grid": []}
    return {"method": method, "rule": "answer when U <= threshold (median over splits that certified a threshold)",
            "n": int(ok.sum()), "grid": risk_grid(-u[ok], y[ok], n_splits, seed)}


def summary_conformal(conformal: dict) -> dict:
    """What `summary --json` shows: per score the coverage at each alpha and mean set size; uncoverable count."""
    alphas = conformal.get("alphas", [])
    return {"scores": {name: {"coverage": dict(zip([str(a) for a in alphas], s.get("coverage", []))),
                              "mean_set_size": dict(zip([str(a) for a in alphas], s.get("mean_set_size", [])))}
                       for name, s in conformal.get("scores", {}).items()},
            "uncoverable": conformal.get("uncoverable", {}).get("count")}
