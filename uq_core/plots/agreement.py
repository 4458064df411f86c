"""Method agreement: overlap of flagged sets and rank correlations between methods."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ._style import empty, layout


def _heat(mat: pd.DataFrame, title: str, zmin: float, zmax: float, colorscale: str) -> go.Figure:
    if mat.empty:
        return empty("No methods to compare")
    z = mat.to_numpy(dtype=float)
    text = np.vectorize(lambda v: "" if np.isnan(v) else f"{v:.2f}")(z)
    fig = go.Figure(go.Heatmap(z=z, x=list(mat.columns), y=list(mat.index), zmin=zmin, zmax=zmax,
                               colorscale=colorscale, text=text, texttemplate="%{text}",
                               hovertemplate="%{y} vs %{x}: %{z:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return layout(fig, title, height=120 + 45 * len(mat))


def overlap_heatmap(mat: pd.DataFrame, q: int, random_baseline: float | None) -> go.Figure:
    """Jaccard overlap of each pair's top-q% most uncertain questions; the random baseline is in the title."""
    base = "n/a" if random_baseline is None else f"{random_baseline:.3f}"
    return _heat(mat, f"Overlap of flagged sets at {q}% (random rankings: {base})", 0, 1, "Blues")


def corr_heatmap(mat: pd.DataFrame, kind: str) -> go.Figure:
    """Rank correlation (Spearman or Kendall) between every pair of methods, -1..1."""
    return _heat(mat, f"{kind.capitalize()} rank correlation between methods", -1, 1, "RdBu")
