"""Hidden-state map: the 2D projection coloured by a method's confidence and by verified correctness."""
from __future__ import annotations

import streamlit as st

import ui_common as ui
import ui_state
from uq_core import view
from uq_core.plots import geometry
from uq_core.store import RunError

path = ui.page_setup("Hidden-state map")
st.title("Hidden-state map")
try:
    umap = ui.table(path, "analyses/umap")
    qt = ui.question_table(path)
    methods = view.available_methods(ui.table(path, "scores"))
except RunError as e:
    st.info(f"No projection in this run: {e}")
    st.stop()
geo = ui.optional_json(path, "analyses/geometry.json") or {}
st.caption(f"Each point is one question's greedy answer, projected from {geo.get('source', 'hidden states')}. "
           "Left: coloured by the method's confidence. Right: by whether the answer is actually right. "
           "Black ring = confident hallucination (high confidence, wrong).")

layers = [x for x in umap["layer"].unique().tolist() if x != "samples"] or ["samples"]
c1, c2, c3 = st.columns([2, 2, 1])
with c1:
    layer = ui.synced_select("Layer", layers, ui_state.LAYER, "hs_layer", default=len(layers) - 1)
with c2:
    method = ui.method_select("Method", methods, "hs_method")
with c3:
    continuous = st.toggle("Continuous confidence", key="hs_continuous")
if method is None:
    st.stop()

pts = view.umap_points(umap, layer, qt, method)
ranges = geometry.axis_ranges(pts) if len(pts) else None
left, right = st.columns(2)
with left:
    ev1 = st.plotly_chart(geometry.umap_map(pts, "confidence", continuous, method, ranges), key="hs_conf",
                          on_select="rerun", selection_mode=("points", "lasso", "box"))
with right:
    ev2 = st.plotly_chart(geometry.umap_map(pts, "correctness", False, method, ranges), key="hs_corr",
                          on_select="rerun", selection_mode=("points", "lasso", "box"))

st.subheader(f"Separation at {layer}: {method}")
st.dataframe(view.separation_table(geo, layer, method), key="hs_sep")
st.caption("Higher = the labelling is visible in the geometry. The thesis predicts confidence separates far "
           "better than correctness.")

picked = []
for ev in (ev1, ev2):
    for p in (ev or {}).get("selection", {}).get("points", []) if ev else []:
        cd = p.get("customdata")
        qid = cd[0] if isinstance(cd, list) else cd
        if qid and qid not in picked:
            picked.append(qid)
n_ch = int(pts["confident_hallucination"].sum())
st.subheader(f"Selected questions ({len(picked)})" if picked else f"Confident hallucinations ({n_ch})")
ids = picked or pts.loc[pts["confident_hallucination"], "question_id"].tolist()
sel = pts[pts["question_id"].isin(ids)][["question_id", "question", "answer", "verdict", "confidence"]]
st.dataframe(sel, hide_index=True, key="hs_selected")
if ids:
    qid = st.selectbox("Question to inspect", ids, key="hs_pick")
    if st.button("Open in inspector", key="hs_open"):
        ui_state.put(ui_state.QUESTION, qid)
        st.switch_page("pages/6_Question_inspector.py")
