"""Hidden-state methods: a supervised probe on the greedy answer's last-token residual stream."""
from __future__ import annotations

import numpy as np

from .registry import Unavailable, register


def probe_layer_index(layers: list, wanted) -> int:
    """Position of layer *wanted* in *layers*; None = the middle stored layer."""
    if wanted is None:
        return len(layers) // 2
    if wanted not in layers:
        raise Unavailable(f"probe layer {wanted!r} is not stored; stored layers: {layers}")
    return layers.index(wanted)


def cross_fitted_probe(X: np.ndarray, y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Out-of-fold P(y = 1) from a standardised logistic regression.

    Parameters
    ----------
    X : float (n, H); rows with NaN get NaN.  y : float (n,) 1/0, NaN = unlabelled (never fitted on;
    predicted by the mean of the fold models).  folds : k of the stratified k-fold split.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    feat_ok = np.isfinite(X).all(axis=1)
    lab = feat_ok & np.isfinite(y)
    yl = y[lab].astype(int)
    n_min = int(min((yl == 0).sum(), (yl == 1).sum())) if lab.any() else 0
    if n_min < 2:
        raise Unavailable(f"needs at least 2 right and 2 wrong verified answers with hidden states; "
                          f"have {int((yl == 1).sum())} right, {int((yl == 0).sum())} wrong")
    k = min(int(folds), n_min)
    out = np.full(len(y), np.nan)
    li = np.nonzero(lab)[0]
    rest = np.nonzero(feat_ok & ~lab)[0]
    rest_pred = np.zeros(len(rest))
    for tr, te in StratifiedKFold(k, shuffle=True, random_state=seed).split(li, yl):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
        model.fit(X[li[tr]], yl[tr])
        out[li[te]] = model.predict_proba(X[li[te]])[:, 1]
        if len(rest):
            rest_pred += model.predict_proba(X[rest])[:, 1] / k
    out[rest] = rest_pred
    return out


@register("hidden_probe", "hidden", ("hidden", "labels"),
          "Supervised probe: logistic regression on greedy last-token hidden states vs verified labels, "
          "k-fold out-of-fold; U = 1 - P(right)")
def hidden_probe(ctx) -> np.ndarray:
    inp = ctx.inputs
    if inp.hidden is None:
        raise Unavailable(inp.hidden_reason or "no hidden states")
    cfg = ctx.config
    li = probe_layer_index(list(inp.hidden_layers), cfg.probe_layer)
    X = inp.hidden[:, li, :].astype(np.float64)
    p = ctx._memo(("probe", li, int(cfg.probe_folds), int(cfg.seed)),
                  lambda: cross_fitted_probe(X, inp.labels, cfg.probe_folds, cfg.seed))
    return 1.0 - p
