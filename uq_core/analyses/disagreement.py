"""Method disagreement: overlap of flagged sets and rank correlation between UQ methods.

F_A(q) = the k = round(q n) questions with the highest uncertainty U under method A (round half up,
at least 1). Ties at the cut-off are broken by a fixed hash of the question id (SHA-1), the same for
every method, so the choice is deterministic and independent of the ids' alphabetical order.
Overlap = Jaccard |F_A & F_B| / |F_A | F_B|, computed pairwise-complete (on the questions both methods
scored). The chance level is the exact expectation of the Jaccard of two independent uniformly random
k-subsets of n: the intersection size X is hypergeometric (population n, k marked, k drawn) and
E[J] = sum_x P(X = x) x / (2k - x).
"""
from __future__ import annotations

import hashlib
import math
import warnings
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.special import gammaln
from scipy.stats import kendalltau, spearmanr

from ..store import RunError
from ._load import available_methods, clean, ref_scores

Q_PERCENT = (10, 20, 30)
PAPER_LABEL = "paper (ICML 2026)"
# REFERENCE.md, "Method disagreement": Jaccard of top-q% flagged sets at q = 10 / 20 / 30 %.
PAPER_OVERLAP = {
    ("semantic_entropy", "eigv"): (0.134, 0.166, 0.266),
    ("semantic_entropy", "p_true"): (0.080, 0.159, 0.229),
    ("eigv", "p_true"): (0.224, 0.319, 0.404),
}


def n_flagged(q: float, n: int) -> int:
    """k = round(q n) (half up), clipped to [1, n]; 0 when n = 0."""
    _check_q(q)
    return 0 if n <= 0 else int(min(n, max(1, math.floor(q * n + 0.5))))


def _check_q(q: float) -> None:
    if not (0 < q <= 1):
        hint = f" (did you mean {q / 100:g}?)" if 1 < q <= 100 else ""
        raise ValueError(f"q must be a fraction in (0, 1]; got {q!r}{hint}")


def tie_key(ids) -> np.ndarray:
    """uint64 (n,) fixed pseudo-random key per question id, used to break ties in U."""
    return np.array([int.from_bytes(hashlib.sha1(str(i).encode()).digest()[:8], "big") for i in ids],
                    dtype=np.uint64)


def top_fraction_sets(scores: pd.DataFrame, q: float) -> dict[str, list[str]]:
    """The flagged set of each method: its round(q n) most uncertain questions.

    Parameters
    ----------
    scores : DataFrame (n_questions, n_methods)
        Uncertainty per question (index = question_id); NaN = not scored (left out for that method).
    q : float in (0, 1]
        Fraction flagged.

    Returns
    -------
    {method: [question_id, ...]} most uncertain first.
    """
    _check_q(q)
    if isinstance(scores, pd.Series):
        scores = scores.to_frame()
    ids = np.asarray(scores.index)
    key = tie_key(ids)
    out = {}
    for m in scores.columns:
        u = pd.to_numeric(scores[m], errors="coerce").to_numpy(float)
        ok = np.flatnonzero(np.isfinite(u))
        order = ok[np.lexsort((key[ok], -u[ok]))]
        out[m] = [ids[i] for i in order[:n_flagged(q, len(ok))]]
    return out


def jaccard(a, b) -> float:
    """|a & b| / |a | b| of two collections; NaN when both are empty."""
    a, b = set(a), set(b)
    union = len(a | b)
    return len(a & b) / union if union else float("nan")


def expected_random_jaccard(n: int, q: float) -> float:
    """Exact E[Jaccard] of two independent uniformly random k-subsets of n items, k = round(q n).

    X = |intersection| ~ Hypergeometric(n, k, k); E[J] = sum_x P(X = x) x / (2k - x).
    """
    k = n_flagged(q, n)
    if k == 0:
        return float("nan")
    x = np.arange(max(0, 2 * k - n), k + 1)
    p = np.exp(_lchoose(k, x) + _lchoose(n - k, k - x) - _lchoose(n, k))  # hypergeometric pmf
    return float(np.sum(p * x / (2 * k - x)))


def _lchoose(a, b):
    return gammaln(np.asarray(a) + 1.0) - gammaln(np.asarray(b) + 1.0) - gammaln(np.asarray(a) - b + 1.0)


def _pair_frame(scores: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    d = scores[[a, b]]
    return d[np.isfinite(d[a].to_numpy(float)) & np.isfinite(d[b].to_numpy(float))]


def rank_correlations(scores: pd.DataFrame, methods: list[str]) -> dict[str, dict]:
    """Spearman and Kendall tau-b matrices (pairwise complete; NaN with < 3 pairs or a constant column)."""
    k = len(methods)
    sp, kt = np.eye(k), np.eye(k)
    for i, j in combinations(range(k), 2):
        d = _pair_frame(scores, methods[i], methods[j])
        x, y = d[methods[i]].to_numpy(float), d[methods[j]].to_numpy(float)
        if len(d) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
            s = t = np.nan
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                s, t = spearmanr(x, y).statistic, kendalltau(x, y).statistic
        sp[i, j] = sp[j, i] = s
        kt[i, j] = kt[j, i] = t
    return {"spearman": {"methods": list(methods), "matrix": sp.tolist()},
            "kendall": {"methods": list(methods), "matrix": kt.tolist()}}


def disagreement(scores: pd.DataFrame, methods: list[str] | None = None, qs=Q_PERCENT) -> dict:
    """The overlap.json dict (see docs/CONTRACTS.md) for *scores* (index question_id, one column per method).

    Extra keys beyond the contract: "n_questions" (rows with any score; the n used for "random") and
    "pair_n" ({"a|b": questions both methods scored}).
    """
    methods = list(scores.columns if methods is None else methods)
    unknown = [m for m in methods if m not in scores.columns]
    if unknown:
        raise ValueError(f"method(s) not in the scores table: {', '.join(unknown)}")
    s = scores[methods].apply(pd.to_numeric, errors="coerce").astype(float)
    n = int(np.isfinite(s.to_numpy()).any(axis=1).sum())
    pairs = list(combinations(methods, 2))
    overlap, flagged, random, pair_n = {}, {}, {}, {}
    for qp in qs:
        q = qp / 100
        flagged[str(qp)] = top_fraction_sets(s, q)
        random[str(qp)] = expected_random_jaccard(n, q) if n else float("nan")
        row = {}
        for a, b in pairs:
            d = _pair_frame(s, a, b)
            pair_n[f"{a}|{b}"] = len(d)
            sets = top_fraction_sets(d, q) if len(d) else {a: [], b: []}
            row[f"{a}|{b}"] = jaccard(sets[a], sets[b])
        overlap[str(qp)] = row
    out = {"q": [int(x) for x in qs], "methods": methods, "overlap": overlap, "random": random}
    out.update(rank_correlations(s, methods))
    out.update({"flagged": flagged, "n_questions": n, "pair_n": pair_n})
    return clean(out)


def disagreement_run(run) -> dict:
    """Compute overlap.json for *run*'s 'ref' scores (every available method) and write analyses/overlap.json."""
    scores = ref_scores(run)
    methods = available_methods(run, scores)
    if len(methods) < 2:
        raise RunError(f"{run.path}: disagreement needs at least 2 available methods; found {methods or 'none'}")
    out = disagreement(scores, methods)
    run.write_json("analyses/overlap.json", out)
    return out


def _pair_value(table: dict, a: str, b: str):
    v = table.get(f"{a}|{b}", table.get(f"{b}|{a}"))
    return float("nan") if v is None else float(v)


def paper_table(overlap: dict) -> pd.DataFrame:
    """The paper's three pairs at 10/20/30 %: this run, two random rankings, and the published value.

    Returns
    -------
    DataFrame with columns pair, q (%), "this run", "random", "paper (ICML 2026)"; 9 rows.
    """
    rows = []
    for (a, b), paper in PAPER_OVERLAP.items():
        for qp, pv in zip(Q_PERCENT, paper):
            row_q = overlap.get("overlap", {}).get(str(qp), {})
            rnd = overlap.get("random", {}).get(str(qp))
            rows.append({"pair": f"{a} | {b}", "q (%)": qp, "this run": _pair_value(row_q, a, b),
                         "random": float("nan") if rnd is None else float(rnd), PAPER_LABEL: pv})
    return pd.DataFrame(rows)


def summary_overlap(overlap: dict) -> dict:
    """What `summary --json` shows: {"10": {pair: x}, ..., "random": {"10": x, ...}}."""
    out = {str(q): dict(overlap.get("overlap", {}).get(str(q), {})) for q in overlap.get("q", [])}
    out["random"] = dict(overlap.get("random", {}))
    return out
