"""Question inspector: the samples' similarity graph and the question's score percentiles."""
from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from ._style import SEQ, empty, layout


def _circle_layout(sim: np.ndarray, seed: int = 0) -> np.ndarray:
    """2D positions from a few spring iterations on the similarity graph (deterministic)."""
    m = len(sim)
    ang = np.linspace(0, 2 * np.pi, m, endpoint=False)
    pos = np.c_[np.cos(ang), np.sin(ang)]
    w = np.nan_to_num(np.clip(sim, 0, 1))
    for _ in range(60):
        d = pos[:, None, :] - pos[None, :, :]
        dist = np.linalg.norm(d, axis=-1) + np.eye(m) + 1e-6
        force = (-(w * dist)[..., None] * d + (0.05 / dist ** 2)[..., None] * d).sum(1)
        pos = pos + 0.05 * force
        pos = pos - pos.mean(0)
    return pos


def similarity_graph(samples: pd.DataFrame, sim: np.ndarray, threshold: float = 0.85) -> go.Figure:
    """Network of the samples: colour = semantic cluster, size = cluster size, edges where cosine >= threshold.

    Parameters
    ----------
    samples : DataFrame
        ``uq_core.view.samples_view`` rows (index, text, cluster, cluster_size, mean_logprob, label), in the
        same order as *sim*.
    sim : ndarray, shape (m, m)
        Cosine similarity between the samples' embeddings.
    """
    m = len(samples)
    if m == 0 or sim.shape != (m, m):
        return empty("No samples with embeddings for this question")
    pos = _circle_layout(sim)
    ex, ey, mid_x, mid_y, mid_t = [], [], [], [], []
    for i in range(m):
        for j in range(i + 1, m):
            if np.isfinite(sim[i, j]) and sim[i, j] >= threshold:
                ex += [pos[i, 0], pos[j, 0], None]
                ey += [pos[i, 1], pos[j, 1], None]
                mid_x.append((pos[i, 0] + pos[j, 0]) / 2)
                mid_y.append((pos[i, 1] + pos[j, 1]) / 2)
                mid_t.append(f"cosine {sim[i, j]:.2f}")
    fig = go.Figure()
    fig.add_scatter(x=ex, y=ey, mode="lines", line=dict(color="#bbbbbb", width=1), hoverinfo="skip", name="cos >= tau")
    fig.add_scatter(x=mid_x, y=mid_y, mode="markers", marker=dict(size=4, color="#bbbbbb"), hovertext=mid_t,
                    hoverinfo="text", showlegend=False)
    hover = [f"sample {int(r['index'])} (cluster {int(r['cluster'])}, size {int(r['cluster_size'])})<br>"
             f"{html.escape(str(r['text']))[:200]}<br>verdict: {r.get('label')}"
             for _, r in samples.iterrows()]
    colors = [SEQ[int(c) % len(SEQ)] if c >= 0 else "#999999" for c in samples["cluster"]]
    fig.add_scatter(x=pos[:, 0], y=pos[:, 1], mode="markers+text", text=[str(int(i)) for i in samples["index"]],
                    textposition="top center", hovertext=hover, hoverinfo="text", name="samples",
                    marker=dict(color=colors, size=10 + 4 * samples["cluster_size"].to_numpy(),
                                line=dict(width=2, color=["black" if lab == "right" else "white"
                                                          for lab in samples.get("label", [])])))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    return layout(fig, f"Samples by meaning (edges: cosine >= {threshold}; black ring = verified right)",
                  height=420, showlegend=False)


def score_percentiles(row: pd.Series, methods: list[str]) -> go.Figure:
    """Horizontal bars: this question's uncertainty percentile under each method (100 = most uncertain)."""
    vals = [(m, row.get(f"{m} pct")) for m in methods]
    vals = [(m, v) for m, v in vals if v is not None and v == v]
    if not vals:
        return empty("No scores for this question")
    fig = go.Figure(go.Bar(x=[v for _, v in vals], y=[m for m, _ in vals], orientation="h", marker_color="#3b6fb6",
                           hovertemplate="%{y}: percentile %{x:.0f}<extra></extra>"))
    fig.add_vline(x=50, line_dash="dash", line_color="grey")
    fig.update_xaxes(range=[0, 100], title="uncertainty percentile among all questions (100 = least trusted)")
    return layout(fig, "Where this question sits for each method", height=80 + 32 * len(vals))
