"""Selective answering with risk control (Learn then Test, Clopper-Pearson, fixed-sequence testing).

Answer a question iff its confidence >= lambda. On the calibration split, the hypotheses
H_j: "the error rate among answered questions exceeds epsilon" are tested for the thresholds
lambda_j = the j-th highest calibration confidence, from most confident downwards. H_j is rejected
when the binomial p-value P(Bin(n_j, epsilon) <= wrong_j) <= delta, i.e. when the one-sided
Clopper-Pearson upper bound at level 1 - delta is <= epsilon. Fixed-sequence testing stops at the
first hypothesis not rejected; the chosen lambda is the last rejected one (the most questions
answered while certified). The sequence starts at the
fewest answers n_0 at which one error could still be certified (Bin(n_0, epsilon).cdf(1) <= delta; a
label-free choice, so the test stays valid): earlier hypotheses rest on so few answers that one
unlucky error among the most confident questions would end the sequence before it could reject.
Then P(risk <= epsilon) >= 1 - delta over calibration draws. No certified threshold = abstain on
every question (threshold +inf, nothing answered).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.stats import binom


def _check(conf: np.ndarray, wrong: np.ndarray, epsilon: float, delta: float, cal_frac: float) -> None:
    if conf.ndim != 1 or conf.shape != wrong.shape:
        raise ValueError(f"conf and wrong must be 1-D of the same length; got {conf.shape} and {wrong.shape}")
    if not np.isfinite(conf).all():
        raise ValueError("conf holds NaN or inf: drop questions without a score first")
    if not np.isin(wrong, (0, 1)).all():
        raise ValueError("wrong must hold only 0 (right) and 1 (wrong)")
    if not (0 < epsilon < 1) or not (0 < delta < 1):
        raise ValueError(f"epsilon and delta must lie in (0, 1); got epsilon={epsilon}, delta={delta}")
    if not (0 < cal_frac < 1):
        raise ValueError(f"cal_frac must lie in (0, 1); got {cal_frac}")
    if len(conf) < 4:
        raise ValueError(f"risk control needs at least 4 questions; got {len(conf)}")


def random_splits(n: int, n_splits: int, seed: int) -> np.ndarray:
    """int (n_splits, n): one seeded random permutation of range(n) per split."""
    rng = np.random.default_rng(seed)
    return np.argsort(rng.random((n_splits, n)), axis=1)


def start_count(epsilon: float, delta: float, errors: int = 1) -> int:
    """Fewest answers n at which *errors* wrong answers could still be certified: Bin(n, eps).cdf(errors) <= delta."""
    n = max(errors + 1, math.ceil(math.log(delta) / math.log(1 - epsilon)))
    while binom.cdf(errors, n, epsilon) > delta:
        n += 1
    return n


def ltt_thresholds(conf_cal: np.ndarray, wrong_cal: np.ndarray, epsilon: float, delta: float) -> np.ndarray:
    """Certified confidence threshold per calibration split (+inf = abstain on everything).

    Parameters
    ----------
    conf_cal, wrong_cal : (n_splits, n_cal) confidence (higher = more confident) and 0/1 wrong.
    """
    n_splits, n_cal = conf_cal.shape
    thr = np.full(n_splits, np.inf)
    j0 = start_count(epsilon, delta) - 1
    if j0 >= n_cal:
        return thr
    o = np.argsort(-conf_cal, axis=1, kind="stable")
    cs = np.take_along_axis(conf_cal, o, axis=1)
    cum_w = np.cumsum(np.take_along_axis(wrong_cal, o, axis=1), axis=1)
    # answering "conf >= cs[j]" answers every tie of cs[j]: use the last index of each tie group
    is_last = np.ones_like(cs, dtype=bool)
    is_last[:, :-1] = cs[:, :-1] != cs[:, 1:]
    idx = np.where(is_last, np.arange(n_cal)[None, :], n_cal)
    last = np.minimum.accumulate(idx[:, ::-1], axis=1)[:, ::-1]
    n_ans = last + 1
    k = np.take_along_axis(cum_w, last, axis=1)
    reject = binom.cdf(k[:, j0:], n_ans[:, j0:], epsilon) <= delta
    first_fail = np.where(reject.all(axis=1), reject.shape[1], np.argmin(reject, axis=1))
    ok = first_fail > 0
    rows = np.flatnonzero(ok)
    thr[rows] = cs[rows, j0 + first_fail[rows] - 1]
    return thr


def risk_control(conf, wrong, epsilon: float, delta: float, n_splits: int = 100, seed: int = 0,
                 cal_frac: float = 0.5) -> dict:
    """Learn-then-Test selective answering over random calibration/test splits.

    Parameters
    ----------
    conf : float (n,)
        Confidence per question (higher = more confident, e.g. -U).
    wrong : int (n,)
        1 if the (greedy) answer is verified wrong, 0 if right.
    epsilon : float in (0, 1)
        Target error rate among answered questions.
    delta : float in (0, 1)
        Allowed probability that the target is missed.
    n_splits : int
        Random calibration/test splits (fraction *cal_frac* calibrates).

    Returns
    -------
    dict: threshold (median certified confidence threshold over the splits that certified one; NaN if none),
    achieved_risk (mean test error among answered, over splits that answer something),
    fraction_answered (mean), violation_rate (share of splits with test risk > epsilon),
    certified_rate (share of splits with a certified threshold), and per-split arrays
    thresholds (+inf = abstain on everything) / risks / fractions.
    """
    conf = np.asarray(conf, dtype=np.float64)
    wrong = np.asarray(wrong, dtype=np.float64)
    _check(conf, wrong, epsilon, delta, cal_frac)
    n = len(conf)
    n_cal = min(n - 1, max(1, int(round(cal_frac * n))))
    perm = random_splits(n, n_splits, seed)
    cal, test = perm[:, :n_cal], perm[:, n_cal:]
    thr = ltt_thresholds(conf[cal], wrong[cal], epsilon, delta)
    answered = conf[test] >= thr[:, None]
    n_a = answered.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        risks = np.where(n_a > 0, (wrong[test] * answered).sum(axis=1) / n_a, np.nan)
    fractions = n_a / test.shape[1]
    finite = np.isfinite(thr)
    violations = np.nan_to_num(risks, nan=0.0) > epsilon
    return {
        "epsilon": float(epsilon), "delta": float(delta), "n_splits": int(n_splits),
        "threshold": float(np.median(thr[finite])) if finite.any() else float("nan"),
        "achieved_risk": float(np.nanmean(risks)) if np.isfinite(risks).any() else float("nan"),
        "fraction_answered": float(fractions.mean()),
        "violation_rate": float(violations.mean()),
        "certified_rate": float(finite.mean()),
        "thresholds": thr, "risks": risks, "fractions": fractions,
    }
