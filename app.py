"""UQ Lens: Overview page. Pick a run, see the headline numbers and the thesis on this run."""
from __future__ import annotations

import streamlit as st

import ui_common as ui
from uq_core import view
from uq_core.plots import overview
from uq_core.report import build_report
from uq_core.store import RunError

path = ui.page_setup("Overview")
st.title("UQ Lens")
st.caption("Consensus is not correctness: uncertainty methods checked against objective verifiers.")

try:
    ev = ui.json_file(path, "analyses/evaluation.json")
    scores = ui.table(path, "scores")
    qt = ui.question_table(path)
except RunError as e:
    st.error(f"This run is not complete enough for the overview: {e}")
    st.stop()

labels = qt.set_index("question_id")["verdict"]
q = st.radio("Most-sure fraction", [10, 20], index=1, horizontal=True, format_func=lambda v: f"{v}%", key="ov_q")
ch = view.confident_hallucinations(scores, labels, q)
h = view.headline(ev, ch)
mt = view.method_table(ev)

c = st.columns(5)
c[0].metric("Questions", f"{h['n_questions']}", help=f"{h['n_labelled']} with a verified greedy answer")
c[1].metric("Accuracy", "n/a" if h["accuracy"] is None else f"{100 * h['accuracy']:.0f}%")
c[2].metric("Confident hallucinations", "n/a" if ch["rate"] is None else f"{100 * ch['rate']:.0f}%",
            help=f"{ch['count']} of {ch['n']} most-sure answers are wrong", delta=f"{ch['count']} of {ch['n']}",
            delta_color="off", delta_arrow="off")
for col, k in ((c[3], "best"), (c[4], "worst")):
    b = h.get(k)
    col.metric(f"{k.capitalize()} AUROC" + (f": {b['method']}" if b else ""),
               "n/a" if not b else f"{b['auroc']:.2f}",
               delta=None if not b else f"95% CI {view.fmt_ci(b['auroc'], *b['ci']).split(' ', 1)[1]}",
               delta_color="off", delta_arrow="off")
st.subheader(view.ch_sentence(ch))

left, right = st.columns(2)
left.plotly_chart(overview.auroc_forest(mt), key="ov_forest")
right.plotly_chart(overview.confidence_vs_correctness(qt, view.available_methods(scores)), key="ov_cvc")

with st.expander("What am I looking at?", expanded=True):
    st.markdown(
        "Each **uncertainty method** asks the model the same question many times (or asks it to rate "
        "itself) and scores how much it *agrees with itself*. That is clustering, not fact-checking. "
        "Here every answer was also checked by an **objective verifier** (alias lists, numbers, unit tests).\n\n"
        "- An AUROC of **0.5** means the method's confidence tells you nothing about whether the answer is "
        "right; **1.0** would be perfect.\n"
        "- A **confident hallucination** is a wrong answer the methods were most sure about: the model "
        "consistently repeats the same mistake, so every consistency-based method trusts it.\n\n"
        "**Consensus is not correctness.**")

st.subheader("The most-sure answers that are wrong")
show = qt[qt["question_id"].isin(ch["question_ids"])][["question_id", "dataset", "question", "answer", "verdict"]]
st.dataframe(show, hide_index=True, key="ov_ch_table")

st.subheader("All methods")
st.dataframe(mt, hide_index=True, key="ov_methods")
st.download_button("Download HTML report", data=lambda: build_report(path),
                   file_name=f"uq_lens_{ui.run_name(path)}.html",
                   mime="text/html", on_click="ignore", key="ov_report")
