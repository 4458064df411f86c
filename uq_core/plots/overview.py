"""Overview figures: the thesis on one run (AUROC with intervals vs chance; confidence vs correctness)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from ._style import VERDICT_COLORS, empty, layout, nz


def auroc_forest(methods: pd.DataFrame) -> go.Figure:
    """Per method: AUROC for detecting wrong answers with its 95% interval, against the 0.5 chance line.

    Parameters
    ----------
    methods : DataFrame
        ``uq_core.view.method_table`` output (columns method, available, auroc, auroc_lo, auroc_hi).
    """
    t = methods[methods["available"] & methods["auroc"].notna()].sort_values("auroc") if len(methods) else methods
    if t.empty:
        return empty("No method has an AUROC on this run")
    fig = go.Figure(go.Scatter(
        x=t["auroc"], y=t["method"], mode="markers", marker=dict(size=11, color="#3b6fb6"),
        error_x=dict(type="data", symmetric=False, array=(t["auroc_hi"] - t["auroc"]).tolist(),
                     arrayminus=(t["auroc"] - t["auroc_lo"]).tolist()),
        hovertemplate="%{y}: AUROC %{x:.3f}<extra></extra>", name="AUROC"))
    fig.add_vline(x=0.5, line_dash="dash", line_color="grey", annotation_text="chance",
                  annotation_position="bottom right")
    fig.update_xaxes(range=[0, 1], title="AUROC for detecting wrong answers (95% interval)")
    return layout(fig, "Does uncertainty find the wrong answers? (AUROC)",
                  height=max(260, 60 + 38 * len(t)))


def confidence_vs_correctness(qtable: pd.DataFrame, methods: list[str]) -> go.Figure:
    """Stacked bars per method: among its more confident half and less confident half, share right/wrong."""
    rows = []
    lab = qtable[qtable["verdict"].isin(["right", "wrong"])]
    for m in methods:
        if m not in lab or lab[m].notna().sum() == 0:
            continue
        s = lab[lab[m].notna()]
        med = s[m].median()
        for grp, part in (("high", s[s[m] <= med]), ("low", s[s[m] > med])):
            for v in ("right", "wrong"):
                rows.append({"method": m, "group": f"{grp} confidence", "verdict": v,
                             "share": nz((part["verdict"] == v).mean()) if len(part) else None, "n": len(part)})
    if not rows:
        return empty("No labelled answers with scores")
    df = pd.DataFrame(rows)
    fig = go.Figure()
    for v in ("wrong", "right"):
        d = df[df["verdict"] == v]
        fig.add_bar(x=[d["method"], d["group"]], y=d["share"], name=v, marker_color=VERDICT_COLORS[v],
                    hovertemplate="%{x}: %{y:.0%} " + v + "<extra></extra>")
    fig.update_layout(barmode="stack")
    fig.update_yaxes(tickformat=".0%", title="share of answers", range=[0, 1])
    return layout(fig, "Verdicts in each method's confident / unsure half")
