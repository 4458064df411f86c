"""Method agreement: do the methods flag the same questions? (the paper's overlap table, on this run)."""
from __future__ import annotations

import streamlit as st

import ui_common as ui
from uq_core import view
from uq_core.plots import agreement

path = ui.page_setup("Method agreement")
st.title("Method agreement")
ov = ui.optional_json(path, "analyses/overlap.json")
if not ov:
    st.stop()
st.caption("For each method, F(q) = the q% of questions it finds most uncertain. Overlap = Jaccard of two "
           "methods' sets. If all methods measured the same 'uncertainty', overlaps would be near 1; two random "
           "rankings give the baseline shown.")

st.subheader("Overlap table (paper shape)")
st.dataframe(view.paper_table(ov), key="ag_paper")
with st.expander("Every pair of methods"):
    st.dataframe(view.pairs_table(ov), key="ag_pairs")

qs = [int(q) for q in ov.get("q", [10, 20, 30])]
cols = st.columns(len(qs) or 1)
for col, q in zip(cols, qs):
    col.plotly_chart(agreement.overlap_heatmap(view.overlap_matrix(ov, q), q, ov.get("random", {}).get(str(q))),
                     key=f"ag_heat_{q}")

st.subheader("Rank correlation")
kind = st.radio("Correlation", ["spearman", "kendall"], horizontal=True, key="ag_kind")
corr = view.corr_matrix(ov, kind)
st.plotly_chart(agreement.corr_heatmap(corr, kind), key="ag_corr")

st.subheader("Which questions each method flags")
qf = st.select_slider("Fraction flagged", options=qs, value=qs[1] if len(qs) > 1 else qs[0],
                      format_func=lambda v: f"{v}%", key="ag_q")
ft = view.flagged_table(ov, qf)
qt = ui.question_table(path).set_index("question_id")[["question", "verdict"]]
ft = ft.join(qt, how="left")
st.caption(f"{len(ft)} questions flagged by at least one method at {qf}%; "
           f"{int((ft['n_methods'] == len(ov.get('methods', []))).sum())} flagged by all.")
st.dataframe(ft, key="ag_flagged")
