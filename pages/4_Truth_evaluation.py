"""Truth evaluation: every method against verified correctness, with intervals and worst cases."""
from __future__ import annotations

import streamlit as st

import ui_common as ui
from uq_core import view
from uq_core.plots import evaluation as ep
from uq_core.store import RunError

path = ui.page_setup("Truth evaluation")
st.title("Truth evaluation")
try:
    ev = ui.json_file(path, "analyses/evaluation.json")
except RunError as e:
    st.error(f"No evaluation in this run: {e}")
    st.stop()
mt = view.method_table(ev)
st.caption(f"Labels: {ev.get('label_source')}; {ev.get('n_labelled')} of {ev.get('n_questions')} questions verified; "
           "positive class = wrong answer.")

metric = st.radio("Metric", ["auroc", "prr", "aurac", "auprc"], format_func=ep.NAMES.get, horizontal=True,
                  key="te_metric")
st.plotly_chart(ep.metric_bars(mt, metric), key="te_bars")
st.subheader(f"{ep.NAMES[metric]} per method")
show = mt[["method", "family", metric, f"{metric}_lo", f"{metric}_hi", "ece", "brier", "worst_dataset",
           "worst_auroc", "reason"]]
st.dataframe(show, hide_index=True, key="te_table")

st.plotly_chart(ep.per_dataset_heatmap(view.per_dataset_table(ev)), key="te_perds")

curves = ui.optional_json(path, "analyses/curves.json") or {}
avail = [m for m in mt["method"] if m in curves]
chosen = st.multiselect("Curves for", avail, default=avail[:4], key="te_curves")
c = st.columns(3)
c[0].plotly_chart(ep.roc_curves(curves, chosen), key="te_roc")
c[1].plotly_chart(ep.rac_curves(curves, chosen), key="te_rac")
c[2].plotly_chart(ep.calibration(curves, chosen), key="te_cal")

st.subheader("Verifier vs model judge")
try:
    judge = ui.json_file(path, "analyses/judge.json")
except RunError:
    judge = {"available": False, "reason": "no judge.json in this run"}
if judge.get("available"):
    st.text(f"Judge {judge.get('judge')} agrees with the verifier on {100 * (judge.get('accuracy') or 0):.0f}% of "
             f"{judge.get('n')} answers (Cohen's kappa {judge.get('kappa') or float('nan'):.2f}).")
st.plotly_chart(ep.judge_vs_verifier(judge), key="te_judge")
