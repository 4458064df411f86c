"""Fragility: how a method's ranking and AUROC move when one hyperparameter changes."""
from __future__ import annotations

import plotly.graph_objects as go

from ._style import SEQ, empty, layout, nz

METRICS = {"auroc": "AUROC", "kendall": "Kendall tau vs reference", "jaccard20": "Jaccard@20% vs reference"}


def sweep_lines(fragility: dict, sweep: str, metric: str = "auroc", methods: list[str] | None = None) -> go.Figure:
    """Lines of *metric* vs the sweep's settings per method; AUROC with interval bands; worst point circled.

    Parameters
    ----------
    fragility : dict
        ``analyses/fragility.json``.
    metric : {'auroc', 'kendall', 'jaccard20'}
    """
    sw = fragility.get("sweeps", {}).get(sweep)
    if not sw or not sw.get("methods"):
        return empty(f"No '{sweep}' sweep in this run")
    xs = [str(s) for s in sw["settings"]]
    fig = go.Figure()
    for i, (m, d) in enumerate(sw["methods"].items()):
        if methods and m not in methods:
            continue
        color = SEQ[i % len(SEQ)]
        y = [nz(v) for v in d.get(metric, [])]
        if metric == "auroc" and d.get("auroc_ci"):
            lo = [nz(c[0]) if c else None for c in d["auroc_ci"]]
            hi = [nz(c[1]) if c else None for c in d["auroc_ci"]]
            fig.add_scatter(x=xs + xs[::-1], y=hi + lo[::-1], fill="toself", fillcolor=color, opacity=0.12,
                            line=dict(width=0), hoverinfo="skip", showlegend=False, legendgroup=m)
        fig.add_scatter(x=xs, y=y, mode="lines+markers", name=m, line=dict(color=color), legendgroup=m,
                        hovertemplate=m + " @ %{x}: %{y:.3f}<extra></extra>")
        vals = [(v, j) for j, v in enumerate(y) if v is not None]
        if vals:
            v, j = min(vals)
            fig.add_scatter(x=[xs[j]], y=[v], mode="markers", showlegend=False, legendgroup=m, hoverinfo="skip",
                            marker=dict(size=16, color="rgba(0,0,0,0)", line=dict(color=color, width=2)))
    if metric == "auroc":
        fig.add_hline(y=0.5, line_dash="dash", line_color="grey")
    fig.update_xaxes(title=sweep, type="category")
    fig.update_yaxes(title=METRICS.get(metric, metric))
    return layout(fig, f"{METRICS.get(metric, metric)} across the {sweep} sweep (circle = worst)")
