"""Conformal prediction: coverage guarantees, set sizes, and selective answering with risk control."""
from __future__ import annotations

import numpy as np
import streamlit as st

import ui_common as ui
from uq_core import view
from uq_core.plots import conformal as cp

try:  # written by another engineer; the page explains itself if it is not there yet
    from uq_core.analyses.conformal import risk_control
except ImportError as _e:  # pragma: no cover - only while the module is unfinished
    risk_control, RISK_ERR = None, str(_e)

path = ui.page_setup("Conformal")
st.title("Conformal prediction")
cj = ui.optional_json(path, "analyses/conformal.json")
if not cj:
    st.stop()
st.caption("Split conformal over sampled answers: nonconformity = 1 - frequency of the answer's meaning cluster. "
           f"Averaged over {cj.get('n_splits')} random calibration/test splits of the coverable questions.")
scores = list(cj.get("scores", {}))
score = st.selectbox("Nonconformity score", scores, key="cf_score") if len(scores) > 1 else (scores or [None])[0]
c1, c2 = st.columns(2)
c1.plotly_chart(cp.coverage_plot(cj), key="cf_cov")
c2.plotly_chart(cp.set_size_plot(cj, score), key="cf_size")

unc = cj.get("uncoverable") or {}
st.subheader(f"Uncoverable questions: {unc.get('count', 0)} of {cj.get('n_coverable', 0) + unc.get('count', 0)}")
st.caption("None of their samples is correct, so no set built from the samples can contain a right answer: "
           "the model is wrong however often you ask it.")
qt = ui.question_table(path)
st.dataframe(qt[qt["question_id"].isin(unc.get("question_ids", []))][["question_id", "question", "answer", "verdict"]],
             hide_index=True, key="cf_unc")

st.subheader("Selective answering with risk control")
scores_df = ui.table(path, "scores")
methods = view.available_methods(scores_df)
rc = cj.get("risk_control") or {}
if risk_control is None:
    st.warning(f"Live risk control is not available yet (uq_core.analyses.conformal.risk_control: {RISK_ERR}).")
elif methods:
    m = st.selectbox("Confidence from method", methods, key="cf_method",
                     index=methods.index(rc["method"]) if rc.get("method") in methods else 0)
    a, b, c = st.columns(3)
    eps = a.slider("epsilon: target error among answered", 0.01, 0.5, 0.2, 0.01, key="cf_eps")
    delta = b.slider("delta: allowed failure probability", 0.01, 0.5, 0.1, 0.01, key="cf_delta")
    n_splits = c.select_slider("splits", [20, 50, 100, 200], value=100, key="cf_splits")
    lab = qt[qt["verdict"].isin(["right", "wrong"]) & qt[m].notna()]
    try:
        r = risk_control(-lab[m].to_numpy(float), (lab["verdict"] == "wrong").to_numpy(int), eps, delta, n_splits, 0)
    except ValueError as e:
        st.error(f"Risk control cannot run: {e}")
    else:
        k = st.columns(4)
        thr = r["threshold"]
        k[0].metric("answer when U <=", "abstain" if not np.isfinite(thr) else f"{-thr:.3f}")
        k[1].metric("achieved risk", "n/a" if r["achieved_risk"] != r["achieved_risk"] else f"{r['achieved_risk']:.3f}")
        k[2].metric("fraction answered", f"{100 * r['fraction_answered']:.0f}%")
        k[3].metric("violation rate", f"{100 * r['violation_rate']:.0f}%", help=f"should be <= delta = {delta}")
    st.plotly_chart(cp.risk_plot(rc.get("grid") or [], eps), key="cf_grid")
