"""Truth-grounded evaluation of uncertainty scores (REFERENCE.md "Evaluation against verified truth").

Positive class = the greedy answer is wrong; 'unverifiable' answers are excluded. Every metric is
computed from per-tie-group counts, so ties in U are handled exactly (AUROC counts a tie as 1/2;
the rejection curve uses the expected accuracy under random order within a tie) and bootstrap
resamples (rows of an index matrix) are evaluated all at once.

- AUROC, AUPRC (average precision as in scikit-learn) of U for detecting wrong answers.
- Rejection curve: acc(k) = accuracy of the k least uncertain answers, k = 1..n.
  PR = (1/n) sum_k acc(k) (area over rejection fraction r = 1 - k/n); PR_random = accuracy;
  PR_oracle from sorting by truth; PRR = (PR - PR_random) / (PR_oracle - PR_random).
- AURAC = area under accuracy vs fraction kept = (1/n) sum_k acc(k): with 0/1 quality it equals PR.
- ECE (10 equal-width bins) and Brier of P(right) from isotonic regression of correctness on U,
  fitted on a seeded 50/50 calibration split, reported on the held-out half.
- Confident-hallucination rate at q%: among the round(q n / 100) least uncertain, the fraction wrong
  (ties: expected value); count = expected number wrong.
"""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
from .store import to_jsonable as clean_json

N_BOOT = 1000
METRICS = ("auroc", "auprc", "prr", "aurac")
_KEYS = ("auroc", "auroc_ci", "auprc", "auprc_ci", "prr", "prr_ci", "aurac", "aurac_ci", "ece", "brier",
         "ch_rate_10", "ch_count_10", "ch_n_10", "ch_rate_20", "ch_count_20", "ch_n_20", "per_dataset",
         "worst_dataset")


def _group_counts(u: np.ndarray, right: np.ndarray, idx: np.ndarray):
    g = np.unique(u, return_inverse=True)[1].ravel()
    G = int(g.max()) + 1
    gi = g[idx]
    B = idx.shape[0]
    flat = (np.arange(B)[:, None] * G + gi).ravel()
    n_bg = np.bincount(flat, minlength=B * G).reshape(B, G).astype(np.float64)
    r_bg = np.bincount(flat, weights=right[idx].ravel(), minlength=B * G).reshape(B, G)
    return gi, n_bg, r_bg


def metric_arrays(u: np.ndarray, right: np.ndarray, idx: np.ndarray | None = None,
                  rejection: bool = True) -> dict[str, np.ndarray]:
    """AUROC, AUPRC, PRR, AURAC and the rejection curves for each resample.

    Parameters
    ----------
    u : float (n,) uncertainty; right : float (n,) 1 right / 0 wrong
    idx : int (B, n) resample indices; None = the sample itself (B = 1)
    rejection : bool
        Also compute the rejection curve, PRR and AURAC (the costly part: a sort per resample).

    Returns
    -------
    dict of (B,) arrays, plus 'acc_curve' (B, n) = acc(k) for k = 1..n.
    """
    u = np.asarray(u, dtype=np.float64)
    right = np.asarray(right, dtype=np.float64)
    n = len(u)
    idx = np.arange(n)[None, :] if idx is None else np.asarray(idx)
    gi, n_bg, r_bg = _group_counts(u, right, idx)
    w_bg = n_bg - r_bg
    P, N = w_bg.sum(axis=1), r_bg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        below = np.cumsum(r_bg, axis=1) - r_bg
        auroc = (w_bg * (below + 0.5 * r_bg)).sum(axis=1) / (P * N)
        tp = np.cumsum(w_bg[:, ::-1], axis=1)
        fp = np.cumsum(r_bg[:, ::-1], axis=1)
        prec = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-300), 0.0)
        d_rec = w_bg[:, ::-1] / P[:, None]
        auprc = (d_rec * prec).sum(axis=1)
    bad = (P == 0) | (N == 0)
    auroc[bad], auprc[bad] = np.nan, np.nan
    if not rejection:
        return {"auroc": auroc, "auprc": auprc}
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_g = np.where(n_bg > 0, r_bg / np.maximum(n_bg, 1e-300), 0.0)
        seq = np.take_along_axis(mean_g, np.sort(gi, axis=1), axis=1)
        k = np.arange(1, n + 1, dtype=np.float64)
        acc = np.cumsum(seq, axis=1) / k
        pr = acc.mean(axis=1)
        acc_all = N / n
        oracle = (np.minimum(k[None, :], N[:, None]) / k).mean(axis=1)
        prr = (pr - acc_all) / (oracle - acc_all)
    prr[bad] = np.nan
    return {"auroc": auroc, "auprc": auprc, "prr": prr, "aurac": pr, "acc_curve": acc}


@functools.lru_cache(maxsize=8)
def bootstrap_idx(n: int, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """Seeded resample indices (n_boot, n) over questions (cached, read-only)."""
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    idx.flags.writeable = False
    return idx


def metrics_with_ci(u, right, n_boot: int = N_BOOT, seed: int = 0, rejection: bool = True) -> dict:
    """Point estimates of METRICS plus 95% percentile bootstrap intervals ('<metric>_ci': [lo, hi]).

    rejection=False computes AUROC and AUPRC only (no rejection curve, PRR, AURAC).
    """
    point = metric_arrays(u, right, rejection=rejection)
    boot = metric_arrays(u, right, bootstrap_idx(len(u), n_boot, seed), rejection=rejection)
    out = {}
    for m in (METRICS if rejection else ("auroc", "auprc")):
        out[m] = _f(point[m][0])
        vals = boot[m][np.isfinite(boot[m])]
        out[f"{m}_ci"] = [_f(np.percentile(vals, 2.5)), _f(np.percentile(vals, 97.5))] if len(vals) else [None, None]
    if rejection:
        out["acc_curve"] = point["acc_curve"][0]
    return out


def calibration(u, right, seed: int = 0, n_bins: int = 10) -> dict:
    """Isotonic P(right | U) fitted on a seeded 50% split; ECE, Brier and the reliability bins on the rest."""
    from sklearn.isotonic import IsotonicRegression

    n = len(u)
    if n < 4:
        return {"ece": None, "brier": None, "confidence": [], "accuracy": [], "count": []}
    perm = np.random.default_rng(seed).permutation(n)
    cal, test = perm[: n // 2], perm[n // 2:]
    iso = IsotonicRegression(increasing=False, out_of_bounds="clip", y_min=0.0, y_max=1.0)
    p = iso.fit(u[cal], right[cal]).predict(u[test])
    y = right[test]
    b = np.minimum((p * n_bins).astype(int), n_bins - 1)
    cnt = np.bincount(b, minlength=n_bins)
    conf = np.bincount(b, weights=p, minlength=n_bins)
    acc = np.bincount(b, weights=y, minlength=n_bins)
    ece = float(np.abs(acc - conf).sum() / len(test))
    keep = cnt > 0
    return {"ece": ece, "brier": float(np.mean((p - y) ** 2)), "confidence": (conf[keep] / cnt[keep]).tolist(),
            "accuracy": (acc[keep] / cnt[keep]).tolist(), "count": cnt[keep].tolist()}


def confident_hallucination(acc_curve: np.ndarray, q: float) -> tuple[float, float, int]:
    """(rate, expected count, k) of wrong answers among the q% least uncertain, from acc(k)."""
    n = len(acc_curve)
    k = max(1, int(round(q / 100.0 * n)))
    wrong = k * (1.0 - acc_curve[k - 1])
    return float(wrong / k), round(float(wrong), 2), k


def _f(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _thin(x: np.ndarray, k: int = 201) -> list:
    x = np.asarray(x)
    if len(x) > k:
        x = x[np.unique(np.linspace(0, len(x) - 1, k).round().astype(int))]
    return [_f(v) for v in x]


def evaluate_method(u, right, datasets, n_boot: int = N_BOOT, seed: int = 0) -> tuple[dict, dict]:
    """Metrics (evaluation.json entry, without the metadata keys) and curves for one method."""
    from sklearn.metrics import roc_curve

    ok = np.isfinite(u) & np.isfinite(right)
    u, right, datasets = u[ok], right[ok], datasets[ok]
    res: dict = {"n": int(ok.sum())}
    if len(u) < 2 or right.min() == right.max():
        res["reason"] = "needs at least one right and one wrong verified answer with a score"
        return res, {}
    res.update(metrics_with_ci(u, right, n_boot, seed))
    acc_curve = res.pop("acc_curve")
    cal = calibration(u, right, seed)
    res["ece"], res["brier"] = cal["ece"], cal["brier"]
    for q in (10, 20):
        res[f"ch_rate_{q}"], res[f"ch_count_{q}"], res[f"ch_n_{q}"] = confident_hallucination(acc_curve, q)
    per = {}
    for ds in sorted(set(datasets)):
        sel = datasets == ds
        if sel.sum() >= 2 and right[sel].min() != right[sel].max():
            mm = metrics_with_ci(u[sel], right[sel], n_boot, seed)
            per[ds] = {"n": int(sel.sum()), "accuracy": float(right[sel].mean()), "auroc": mm["auroc"],
                       "auroc_ci": mm["auroc_ci"]}
        else:
            per[ds] = {"n": int(sel.sum()), "accuracy": float(right[sel].mean()), "auroc": None,
                       "auroc_ci": [None, None]}
    res["per_dataset"] = per
    scored = {k: v["auroc"] for k, v in per.items() if v["auroc"] is not None}
    worst = min(scored, key=scored.get) if scored else None
    res["worst_dataset"] = {"name": worst, "auroc": scored.get(worst) if worst else None}
    fpr, tpr, _ = roc_curve(1 - right, u)
    n = len(acc_curve)
    curves = {"roc": {"fpr": _thin(fpr), "tpr": _thin(tpr)},
              "rac": {"kept": _thin(np.arange(1, n + 1) / n, 101), "accuracy": _thin(acc_curve, 101)},
              "calibration": {k: cal[k] for k in ("confidence", "accuracy", "count")}}
    return res, curves


def greedy_labels(run, setting: str = "ref") -> pd.Series:
    """question_id -> 1.0 right / 0.0 wrong / NaN unverifiable, from the greedy answers' verification."""
    v = run.table("verification")
    v = v[(v["setting"] == setting) & (v["kind"] == "greedy")].drop_duplicates("question_id")
    return v.set_index("question_id")["label"].map({"right": 1.0, "wrong": 0.0}).astype(float)


def evaluate_run(run, n_boot: int = N_BOOT, seed: int | None = None) -> dict:
    """Evaluate every scored method of *run*'s 'ref' setting; writes analyses/evaluation.json and curves.json."""
    from .store import RunError

    if not run.has("scores.parquet"):
        raise RunError(f"{run.path}: no scores.parquet; run scoring (uq_core.methods.compute_and_store) first")
    seed = int(run.manifest.get("seed", 0) if seed is None else seed)
    scores = run.table("scores")
    scores = scores[scores["setting"] == "ref"].set_index("question_id")
    qs = run.table("questions").set_index("id")
    labels = greedy_labels(run).reindex(scores.index).to_numpy(dtype=np.float64)
    datasets = qs["dataset"].reindex(scores.index).fillna("?").astype(str).to_numpy()
    meta = run.json("stats/methods.json") if run.has("stats/methods.json") else {}
    lab = np.isfinite(labels)
    out = {"label_source": "verifier", "n_questions": int(len(scores)), "n_labelled": int(lab.sum()),
           "accuracy": _f(labels[lab].mean()) if lab.any() else None,
           "accuracy_by_dataset": {ds: _f(labels[lab & (datasets == ds)].mean())
                                   for ds in sorted(set(datasets[lab]))}, "methods": {}}
    curves = {}
    for name in [c for c in scores.columns if c != "setting"]:
        info = meta.get(name, {})
        u = scores[name].to_numpy(dtype=np.float64)
        available = bool(info.get("available", True)) and bool(np.isfinite(u).any())
        entry = {"available": available, "reason": info.get("reason", "" if available else "no scores"),
                 "family": info.get("family"), "description": info.get("description")}
        entry.update({k: None for k in _KEYS})
        entry.update({k: [None, None] for k in _KEYS if k.endswith("_ci")})
        if available:
            res, cur = evaluate_method(u, labels, datasets, n_boot, seed)
            entry.update(res)
            if cur:
                curves[name] = cur
        out["methods"][name] = entry
    out, curves = clean_json(out), clean_json(curves)
    run.write_json("analyses/evaluation.json", out)
    run.write_json("analyses/curves.json", curves)
    run.set_stage("evaluate", "done")
    return out
