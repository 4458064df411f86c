"""Fragility: how rankings and AUROC move when one hyperparameter changes from the reference."""
from __future__ import annotations

import streamlit as st

import ui_common as ui
from uq_core import view
from uq_core.plots import fragility

path = ui.page_setup("Fragility")
st.title("Fragility")
fr = ui.optional_json(path, "analyses/fragility.json")
if not fr or not fr.get("sweeps"):
    st.info("This run has no hyperparameter sweeps.")
    st.stop()
st.caption("One hyperparameter is changed at a time from the reference setting: "
           + ", ".join(f"{k}={v}" for k, v in (fr.get("reference") or {}).items()))

sweeps = list(fr["sweeps"])
c1, c2 = st.columns(2)
sweep = c1.selectbox("Sweep", sweeps, key="fr_sweep")
metric = c2.radio("Metric", list(fragility.METRICS), format_func=fragility.METRICS.get, horizontal=True,
                  key="fr_metric")
methods = list(fr["sweeps"][sweep].get("methods", {}))
chosen = st.multiselect("Methods", methods, default=methods, key="fr_methods")
st.plotly_chart(fragility.sweep_lines(fr, sweep, metric, chosen), key="fr_lines")

table = view.fragility_table(fr, sweep)
st.subheader(f"Range and worst case over the {sweep} sweep")
if len(table):
    top = table.index[0]
    st.text(f"Most fragile method here: {top} (AUROC range {table.loc[top, 'range_auroc']:.3f}, "
             f"worst {table.loc[top, 'worst_auroc']:.3f}).")
st.dataframe(table.style.highlight_max(subset=["range_auroc", "range_kendall", "range_jaccard20"], color="#f7d7c4")
             .highlight_min(subset=["worst_auroc", "worst_kendall", "worst_jaccard20"], color="#f7d7c4")
             .format("{:.3f}", na_rep="n/a"), key="fr_table")
