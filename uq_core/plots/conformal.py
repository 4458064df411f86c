"""Conformal prediction: coverage vs target, set sizes, and selective answering with risk control."""
from __future__ import annotations

import plotly.graph_objects as go

from ._style import RIGHT, WRONG, empty, layout


def coverage_plot(conformal: dict) -> go.Figure:
    """Empirical coverage (mean +- sd over splits) against the target 1 - alpha, per score."""
    alphas = conformal.get("alphas") or []
    if not alphas or not conformal.get("scores"):
        return empty("No conformal results")
    target = [1 - a for a in alphas]
    fig = go.Figure()
    fig.add_scatter(x=target, y=target, mode="lines", line=dict(dash="dash", color="grey"), name="target 1 - alpha")
    for name, s in conformal["scores"].items():
        fig.add_scatter(x=target, y=s.get("coverage"), mode="lines+markers", name=name,
                        error_y=dict(type="data", array=s.get("coverage_sd") or None))
    fig.update_xaxes(title="target coverage 1 - alpha")
    fig.update_yaxes(title="empirical coverage (coverable questions)")
    return layout(fig, "Coverage vs target", height=360)


def set_size_plot(conformal: dict, score: str | None = None) -> go.Figure:
    """Mean prediction-set size vs alpha, overall and split by whether the greedy answer was right."""
    scores = conformal.get("scores") or {}
    if not scores:
        return empty("No conformal results")
    s = scores[score or next(iter(scores))]
    a = conformal.get("alphas") or []
    fig = go.Figure()
    fig.add_scatter(x=a, y=s.get("mean_set_size"), mode="lines+markers", name="all", line=dict(color="black"))
    fig.add_scatter(x=a, y=s.get("set_size_right"), mode="lines+markers", name="greedy right", line=dict(color=RIGHT))
    fig.add_scatter(x=a, y=s.get("set_size_wrong"), mode="lines+markers", name="greedy wrong", line=dict(color=WRONG))
    fig.update_xaxes(title="alpha")
    fig.update_yaxes(title="mean set size (clusters)")
    return layout(fig, "Prediction-set size", height=360)


def risk_plot(grid: list[dict], epsilon: float | None = None) -> go.Figure:
    """Achieved risk and fraction answered across the stored (epsilon, delta) grid; the chosen epsilon marked."""
    if not grid:
        return empty("No risk-control grid")
    fig = go.Figure()
    for delta in sorted({g["delta"] for g in grid}):
        d = sorted((g for g in grid if g["delta"] == delta), key=lambda g: g["epsilon"])
        fig.add_scatter(x=[g["epsilon"] for g in d], y=[g["achieved_risk"] for g in d], mode="lines+markers",
                        name=f"risk, delta={delta}")
        fig.add_scatter(x=[g["epsilon"] for g in d], y=[g["fraction_answered"] for g in d], mode="lines+markers",
                        name=f"answered, delta={delta}", line=dict(dash="dot"))
    eps = sorted({g["epsilon"] for g in grid})
    fig.add_scatter(x=eps, y=eps, mode="lines", line=dict(dash="dash", color="grey"), name="risk = epsilon")
    if epsilon is not None:
        fig.add_vline(x=epsilon, line_color="black", line_width=1)
    fig.update_xaxes(title="target risk epsilon")
    fig.update_yaxes(title="rate", range=[0, 1])
    return layout(fig, "Selective answering: achieved risk and fraction answered", height=360)
