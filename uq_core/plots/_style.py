"""Shared look: colours for verdicts and confidence groups, and a compact layout."""
from __future__ import annotations

import plotly.graph_objects as go

RIGHT, WRONG, UNVERIFIABLE = "#1b9e77", "#d95f02", "#9e9e9e"
HIGH, LOW = "#3b6fb6", "#c9a227"
VERDICT_COLORS = {"right": RIGHT, "wrong": WRONG, "unverifiable": UNVERIFIABLE}
CONF_COLORS = {"high": HIGH, "low": LOW, "n/a": UNVERIFIABLE}
SEQ = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880", "#ff97ff", "#fecb52"]


def layout(fig: go.Figure, title: str = "", height: int = 420, **kw) -> go.Figure:
    """Apply the common layout (white template, tight margins) and return the figure."""
    fig.update_layout(template="plotly_white", title=title, height=height,
                      margin=dict(l=50, r=20, t=50 if title else 20, b=45), **kw)
    return fig


def empty(message: str, height: int = 300) -> go.Figure:
    """A blank figure that says why there is nothing to draw."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return layout(fig, height=height)


def nz(x):
    """None for NaN/None (plotly draws gaps), else float."""
    try:
        return None if x is None or x != x else float(x)
    except (TypeError, ValueError):
        return None
