"""Truth evaluation: metrics with intervals, per-data-set AUROC, ROC / accuracy-coverage / calibration curves."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ._style import SEQ, empty, layout

NAMES = {"auroc": "AUROC", "prr": "PRR", "aurac": "AURAC", "auprc": "AUPRC"}


def metric_bars(methods: pd.DataFrame, metric: str = "auroc") -> go.Figure:
    """Bars of *metric* per method with 95% interval whiskers (``uq_core.view.method_table`` input)."""
    t = methods[methods["available"] & methods[metric].notna()] if len(methods) else methods
    if t.empty:
        return empty(f"No {NAMES.get(metric, metric)} values")
    t = t.sort_values(metric, ascending=False)
    err = dict(type="data", symmetric=False, array=(t[f"{metric}_hi"] - t[metric]).fillna(0).tolist(),
               arrayminus=(t[metric] - t[f"{metric}_lo"]).fillna(0).tolist())
    fig = go.Figure(go.Bar(x=t["method"], y=t[metric], error_y=err, marker_color="#3b6fb6",
                           hovertemplate="%{x}: %{y:.3f}<extra></extra>"))
    if metric == "auroc":
        fig.add_hline(y=0.5, line_dash="dash", line_color="grey", annotation_text="chance")
    fig.update_yaxes(title=NAMES.get(metric, metric))
    return layout(fig, f"{NAMES.get(metric, metric)} per method (95% interval)", height=360)


def per_dataset_heatmap(table: pd.DataFrame) -> go.Figure:
    """Methods x data sets AUROC; the worst data set of each method is boxed with a marker."""
    if table.empty:
        return empty("No per-data-set results")
    z = table.to_numpy(dtype=float)
    text = [["" if np.isnan(v) else f"{v:.2f}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=list(table.columns), y=list(table.index), zmin=0, zmax=1, colorscale="RdYlGn",
                               text=text, texttemplate="%{text}",
                               hovertemplate="%{y} on %{x}: %{z:.3f}<extra></extra>"))
    for i, row in enumerate(z):
        if np.isfinite(row).any():
            j = int(np.nanargmin(row))
            fig.add_scatter(x=[table.columns[j]], y=[table.index[i]], mode="markers", showlegend=False,
                            marker=dict(symbol="square-open", size=34, color="black", line=dict(width=2)),
                            hoverinfo="skip")
    fig.update_yaxes(autorange="reversed")
    return layout(fig, "AUROC per data set (box = worst case)", height=120 + 40 * len(table))


def _curves(curves: dict, methods: list[str], key: str, x: str, y: str, title: str, xt: str, yt: str,
            diag: bool = False) -> go.Figure:
    fig = go.Figure()
    for i, m in enumerate(methods):
        c = (curves.get(m) or {}).get(key)
        if c and c.get(x):
            fig.add_scatter(x=c[x], y=c[y], mode="lines+markers" if key == "calibration" else "lines", name=m,
                            line=dict(color=SEQ[i % len(SEQ)]))
    if not fig.data:
        return empty(f"No {key} curves")
    if diag:
        fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dash", color="grey"), name="ideal/chance")
    fig.update_xaxes(title=xt, range=[0, 1])
    fig.update_yaxes(title=yt, range=[0, 1.02])
    return layout(fig, title, height=380)


def roc_curves(curves: dict, methods: list[str]) -> go.Figure:
    """ROC curves for detecting wrong answers."""
    return _curves(curves, methods, "roc", "fpr", "tpr", "ROC (positive = wrong)", "false positive rate",
                   "true positive rate", diag=True)


def rac_curves(curves: dict, methods: list[str]) -> go.Figure:
    """Accuracy of the kept answers vs the fraction kept (least uncertain first)."""
    return _curves(curves, methods, "rac", "kept", "accuracy", "Accuracy vs coverage", "fraction of answers kept",
                   "accuracy of kept answers")


def calibration(curves: dict, methods: list[str]) -> go.Figure:
    """Reliability diagram: accuracy per confidence bin vs the diagonal."""
    return _curves(curves, methods, "calibration", "confidence", "accuracy", "Calibration", "confidence",
                   "accuracy in bin", diag=True)


def judge_vs_verifier(judge: dict) -> go.Figure:
    """Grouped bars: each method's AUROC under verified labels and under the model judge's labels."""
    ms = judge.get("methods") or {}
    if not judge.get("available") or not ms:
        return empty(f"No judge comparison: {judge.get('reason') or 'not run'}")
    names = list(ms)
    fig = go.Figure()
    fig.add_bar(x=names, y=[ms[m].get("auroc_verified") for m in names], name="labels from verifier",
                marker_color="#1b9e77")
    fig.add_bar(x=names, y=[ms[m].get("auroc_judge") for m in names], name="labels from model judge",
                marker_color="#7570b3")
    fig.add_hline(y=0.5, line_dash="dash", line_color="grey")
    fig.update_yaxes(title="AUROC", range=[0, 1])
    return layout(fig, "Same methods, two label sources", height=360, barmode="group")
