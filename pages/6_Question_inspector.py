"""Question inspector: one question, its answers, their meaning clusters, and every method's verdict."""
from __future__ import annotations

import json

import streamlit as st

import ui_common as ui
import ui_state
from uq_core import view
from uq_core.plots import inspector
from uq_core.store import RunError

path = ui.page_setup("Question inspector")
st.title("Question inspector")
qt = ui.question_table(path)
q = ui.table(path, "questions").set_index("id")
search = st.text_input("Search questions or answers", key="qi_search")
ids = qt["question_id"].tolist()
if search:
    hit = qt["question"].str.contains(search, case=False, regex=False) | \
        qt["answer"].fillna("").str.contains(search, case=False, regex=False)
    ids = qt.loc[hit, "question_id"].tolist() or ids
    st.caption(f"{int(hit.sum())} match(es)")
text_of = dict(zip(qt["question_id"], qt["question"]))
qid = ui.synced_select("Question", ids, ui_state.QUESTION, "qi_question",
                       format_func=lambda i: f"{i}: {str(text_of.get(i, ''))[:80]}")
row = qt.set_index("question_id").loc[qid]

st.subheader("Question")
st.text(f"{qid} ({row['dataset']})")
st.text(row["question"])
st.caption("References")
st.code("\n".join(map(str, q.loc[qid, "references"])), language=None)
c1, c2 = st.columns([3, 1])
c1.caption("Greedy answer")
c1.code(str(row["answer"]), language=None)
c2.metric("Verdict", str(row["verdict"]), help=f"rule: {row['rule']}")
ver = ui.table(path, "verification")
evid = ver[(ver.question_id == qid) & (ver.setting == "ref") & (ver.kind == "greedy")]["evidence"]
if len(evid) and evid.iloc[0]:
    with st.expander("Verifier evidence", expanded=row["verdict"] == "wrong"):
        st.code(evid.iloc[0], language=None)

methods = view.method_columns(ui.table(path, "scores"))
st.plotly_chart(inspector.score_percentiles(row, methods), key="qi_pct")
st.dataframe({"method": methods, "uncertainty": [row.get(m) for m in methods],
              "percentile": [row.get(f"{m} pct") for m in methods]}, hide_index=True, key="qi_scores")

st.subheader("Samples grouped by meaning (cosine clusters, tau 0.85)")
try:
    clusters = ui.table(path, "stats/clusters")
    sv = view.samples_view(ui.table(path, "generations"), ver, clusters, qid)
except RunError as e:
    st.info(f"No clusters in this run: {e}")
    st.stop()
st.dataframe(sv[["cluster", "cluster_size", "index", "text", "label", "sum_logprob", "mean_logprob", "n_tokens"]],
             hide_index=True, key="qi_samples")
qhat = ui.conformal_qhat(path, alpha=0.1)
cids = view.cluster_ids_for(clusters, qid) or []
if qhat is None:
    st.caption("Conformal set: no calibration question has a correct sample.")
else:
    cs = view.conformal_set(cids, qhat)
    st.text(f"Conformal set at alpha 0.1 (q_hat = {qhat:.2f}): clusters {cs or 'none'}; contains a right answer: "
            f"{bool(set(sv.loc[sv.label == 'right', 'cluster']) & set(cs))}")
try:
    emb, index = ui.embeddings(path)
    sim = view.cosine_matrix(sv["text"].tolist(), emb, index)
    st.plotly_chart(inspector.similarity_graph(sv, sim), key="qi_graph")
except RunError as e:
    st.info(f"No embeddings in this run: {e}")

st.subheader("Self-evaluation")
try:
    se = ui.table(path, "self_eval").set_index("question_id")
    if qid in se.index:
        s = se.loc[qid]
        a, b = st.columns(2)
        a.metric("P(true)", "n/a" if s["p_true"] != s["p_true"] else f"{s['p_true']:.2f}")
        a.code(str(s["p_true_raw"]), language=None)
        b.metric("Verbalized confidence", "n/a" if s["verbalized"] != s["verbalized"] else f"{s['verbalized']:.0f}")
        b.code(str(s["verbalized_raw"]), language=None)
except RunError as e:
    st.info(f"No self-evaluation in this run: {e}")
if q.loc[qid, "payload"] not in ("", "{}"):
    with st.expander("Payload (prompt / tests)"):
        st.code(json.dumps(json.loads(q.loc[qid, "payload"]), indent=2), language="json")
