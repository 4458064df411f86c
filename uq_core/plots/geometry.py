"""Hidden-state map: the 2D projection coloured by a method's confidence and by verified correctness."""
from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from ._style import CONF_COLORS, VERDICT_COLORS, empty, layout


def _hover(t: pd.DataFrame) -> list[str]:
    # Plotly renders a subset of HTML in hover labels: escape every model/question string.
    return [f"{html.escape(str(q))[:160]}<br>answer: {html.escape(str(a))[:120]}<br>verdict: {v}"
            f"<br>confidence: {c:.2f}" if c == c else f"{html.escape(str(q))[:160]}<br>answer: "
            f"{html.escape(str(a))[:120]}<br>verdict: {v}"
            for q, a, v, c in zip(t["question"], t["answer"], t["verdict"], t["confidence"])]


def axis_ranges(points: pd.DataFrame, pad: float = 0.05) -> tuple[list[float], list[float]]:
    """Shared x/y ranges so the two maps use the same axes."""
    out = []
    for c in ("x", "y"):
        lo, hi = float(points[c].min()), float(points[c].max())
        d = (hi - lo) * pad or 1.0
        out.append([lo - d, hi + d])
    return out[0], out[1]


def umap_map(points: pd.DataFrame, color_by: str = "confidence", continuous: bool = False,
             method: str = "", ranges: tuple[list[float], list[float]] | None = None) -> go.Figure:
    """Scatter of the 2D projection; confident hallucinations (high confidence & wrong) drawn as large X markers.

    Parameters
    ----------
    points : DataFrame
        ``uq_core.view.umap_points`` output (x, y, question, answer, verdict, confidence, conf_group,
        confident_hallucination, question_id).
    color_by : {'confidence', 'correctness'}
    continuous : bool
        Colour by the confidence value (0-1) instead of the median split (confidence only).
    """
    if points.empty:
        return empty("No projected points for this layer")
    fig = go.Figure()
    if color_by == "confidence" and continuous:
        fig.add_scatter(x=points["x"], y=points["y"], mode="markers", name="confidence",
                        marker=dict(color=points["confidence"], colorscale="Viridis", cmin=0, cmax=1, size=9,
                                    colorbar=dict(title="confidence")),
                        customdata=points["question_id"], hovertext=_hover(points), hoverinfo="text")
    else:
        col, colors = ("conf_group", CONF_COLORS) if color_by == "confidence" else ("verdict", VERDICT_COLORS)
        for key, color in colors.items():
            d = points[points[col] == key]
            if d.empty:
                continue
            name = f"{key} confidence" if color_by == "confidence" else key
            fig.add_scatter(x=d["x"], y=d["y"], mode="markers", name=name, marker=dict(color=color, size=8, opacity=0.85),
                            customdata=d["question_id"], hovertext=_hover(d), hoverinfo="text")
    ch = points[points["confident_hallucination"]]
    if not ch.empty:
        fig.add_scatter(x=ch["x"], y=ch["y"], mode="markers", name="confident hallucination",
                        marker=dict(symbol="circle-open", size=12, color="black", line=dict(width=1.2)),
                        customdata=ch["question_id"], hovertext=_hover(ch), hoverinfo="text")
    if ranges:
        fig.update_xaxes(range=ranges[0])
        fig.update_yaxes(range=ranges[1])
    title = f"coloured by {method} confidence" if color_by == "confidence" else "coloured by verified correctness"
    return layout(fig, title, height=440, legend=dict(orientation="h", y=-0.12), dragmode="lasso",
                  clickmode="event+select")
