"""Reshape run data for display: headline numbers, per-question tables, small display-only sums.

Every function takes tables/dicts already loaded from a run (``uq_core.store``) and returns plain
values or DataFrames; nothing here reads files or imports Streamlit. Uncertainty U: higher = less
trustworthy; "confidence" in views is the percentile rank of -U.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .analyses.disagreement import paper_table  # noqa: F401  (the paper-shaped table, for pages)
from .schema import REF_SETTING

KEYS = ["setting", "question_id"]


def method_columns(scores: pd.DataFrame) -> list[str]:
    """Method names in ``scores.parquet`` (every column except the keys)."""
    return [c for c in scores.columns if c not in KEYS]


def ref_scores(scores: pd.DataFrame, setting: str = REF_SETTING) -> pd.DataFrame:
    """Scores of one setting indexed by question_id, shape (n_questions, n_methods)."""
    s = scores[scores["setting"] == setting]
    return s.set_index("question_id")[method_columns(scores)]


def available_methods(scores: pd.DataFrame) -> list[str]:
    """Methods with at least one non-NaN score in the reference setting."""
    ref = ref_scores(scores)
    return [m for m in ref.columns if ref[m].notna().any()]


def greedy_labels(verification: pd.DataFrame, setting: str = REF_SETTING) -> pd.Series:
    """Verdict of each question's greedy answer ('right'|'wrong'|'unverifiable'), indexed by question_id."""
    v = verification[(verification["setting"] == setting) & (verification["kind"] == "greedy")]
    return v.set_index("question_id")["label"]


def percentiles(ref: pd.DataFrame) -> pd.DataFrame:
    """Percentile (0-100) of each question's uncertainty among all questions, per method; NaN stays NaN."""
    return ref.rank(pct=True, na_option="keep") * 100.0


def confident_hallucinations(scores: pd.DataFrame, labels: pd.Series, q: float = 20) -> dict[str, Any]:
    """Among the q% labelled answers the methods were most sure about, how many are wrong.

    "Most sure" = lowest mean percentile of uncertainty over every available *unsupervised* method (a
    consensus ranking; methods that learn from the verified labels, such as the hidden-state probe, are left
    out). Returns {"rate", "count", "n", "q", "base_rate", "question_ids", "methods"}; rate None if nothing
    labelled. base_rate = share of all labelled answers that are wrong (what a random pick would give).
    """
    from .methods.registry import REGISTRY
    unsupervised = [m for m in available_methods(scores) if m not in REGISTRY or "labels" not in REGISTRY[m].needs]
    ref = ref_scores(scores)[unsupervised]
    lab = labels[labels.isin(["right", "wrong"])]
    ids = [i for i in ref.index if i in lab.index]
    out: dict[str, Any] = {"q": q, "methods": list(ref.columns), "rate": None, "count": 0, "n": 0, "question_ids": [],
                           "base_rate": None}
    if not ids or ref.empty:
        return out
    cons = percentiles(ref.loc[ids]).mean(axis=1, skipna=True).dropna().sort_values(kind="stable")
    k = max(1, int(round(len(cons) * q / 100)))
    top = list(cons.index[:k])
    wrong = [i for i in top if lab[i] == "wrong"]
    base = float((lab.loc[ids] == "wrong").mean())
    out.update(rate=len(wrong) / k, count=len(wrong), n=k, question_ids=wrong, base_rate=base)
    return out


def ch_sentence(ch: dict[str, Any]) -> str:
    """The headline: "x% of the answers the methods were most sure about are wrong (k of n)"."""
    if ch.get("rate") is None:
        return "No verified answers: the confident-hallucination rate cannot be computed."
    base = "" if ch.get("base_rate") is None else f"; {100 * ch['base_rate']:.0f}% of all answers are wrong"
    return (f"{100 * ch['rate']:.0f}% of the answers the methods were most sure about are wrong "
            f"({ch['count']} of {ch['n']}{base})")


def _f(x: Any) -> float:
    return float("nan") if x is None else float(x)


def method_table(evaluation: dict[str, Any]) -> pd.DataFrame:
    """One row per method: family, availability, AUROC/PRR/AURAC with intervals, ECE, Brier, CH rate, worst set."""
    rows = []
    for m, e in evaluation.get("methods", {}).items():
        row = {"method": m, "family": e.get("family", ""), "available": bool(e.get("available", False))}
        for k in ("auroc", "auprc", "prr", "aurac"):
            lo, hi = (e.get(f"{k}_ci") or [None, None])[:2]
            row.update({k: _f(e.get(k)), f"{k}_lo": _f(lo), f"{k}_hi": _f(hi)})
        row.update(ece=_f(e.get("ece")), brier=_f(e.get("brier")), ch_rate_20=_f(e.get("ch_rate_20")),
                   ch_count_20=e.get("ch_count_20"), ch_n_20=e.get("ch_n_20"),
                   worst_dataset=(e.get("worst_dataset") or {}).get("name"),
                   worst_auroc=_f((e.get("worst_dataset") or {}).get("auroc")), reason=e.get("reason", ""))
        rows.append(row)
    return pd.DataFrame(rows)


def headline(evaluation: dict[str, Any], ch: dict[str, Any]) -> dict[str, Any]:
    """Headline numbers: n questions/labelled, accuracy, CH rate, best and worst method by AUROC (with CI)."""
    t = method_table(evaluation)
    t = t[t["available"] & t["auroc"].notna()] if not t.empty else t
    out = {"n_questions": evaluation.get("n_questions"), "n_labelled": evaluation.get("n_labelled"),
           "accuracy": evaluation.get("accuracy"), "ch": ch, "best": None, "worst": None}
    if not t.empty:
        for key, row in (("best", t.loc[t["auroc"].idxmax()]), ("worst", t.loc[t["auroc"].idxmin()])):
            out[key] = {"method": row["method"], "auroc": row["auroc"], "ci": [row["auroc_lo"], row["auroc_hi"]]}
    return out


def fmt_ci(v: float | None, lo: float | None, hi: float | None) -> str:
    """'0.62 [0.51, 0.73]' with 'n/a' for missing values."""
    def s(x):
        return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"
    return f"{s(v)} [{s(lo)}, {s(hi)}]"


def per_dataset_table(evaluation: dict[str, Any], metric: str = "auroc") -> pd.DataFrame:
    """Methods x data sets table of a per-dataset metric ('auroc' or 'accuracy')."""
    data = {m: {d: _f(v.get(metric)) for d, v in (e.get("per_dataset") or {}).items()}
            for m, e in evaluation.get("methods", {}).items() if e.get("available")}
    return pd.DataFrame(data).T


def question_table(questions: pd.DataFrame, generations: pd.DataFrame, verification: pd.DataFrame,
                   scores: pd.DataFrame) -> pd.DataFrame:
    """One row per question: id, dataset, question, greedy answer, verdict, rule, each method's U and percentile."""
    g = generations[(generations["setting"] == REF_SETTING) & (generations["kind"] == "greedy")]
    v = verification[(verification["setting"] == REF_SETTING) & (verification["kind"] == "greedy")]
    t = questions[["id", "dataset", "text"]].rename(columns={"id": "question_id", "text": "question"})
    t = t.merge(g[["question_id", "text"]].rename(columns={"text": "answer"}), on="question_id", how="left")
    t = t.merge(v[["question_id", "label", "rule"]].rename(columns={"label": "verdict"}), on="question_id", how="left")
    ref = ref_scores(scores)
    pct = percentiles(ref).add_suffix(" pct")
    t = t.merge(ref, left_on="question_id", right_index=True, how="left")
    return t.merge(pct, left_on="question_id", right_index=True, how="left")


def pairs_table(overlap: dict[str, Any]) -> pd.DataFrame:
    """Every method pair (rows) x q (columns '10%', ...) Jaccard overlap, plus a 'random' baseline row."""
    qs = [str(q) for q in overlap.get("q", [])]
    pairs = sorted({p for q in qs for p in overlap.get("overlap", {}).get(q, {})})
    rows = {p.replace("|", " vs "): {f"{q}%": _f(overlap["overlap"][q].get(p)) for q in qs} for p in pairs}
    rows["random (two independent rankings)"] = {f"{q}%": _f(overlap.get("random", {}).get(q)) for q in qs}
    return pd.DataFrame(rows).T


def overlap_matrix(overlap: dict[str, Any], q: int | str) -> pd.DataFrame:
    """Square methods x methods Jaccard matrix at fraction q (diagonal 1)."""
    methods = overlap.get("methods", [])
    mat = pd.DataFrame(np.eye(len(methods)), index=methods, columns=methods)
    for pair, v in overlap.get("overlap", {}).get(str(q), {}).items():
        a, b = pair.split("|", 1)
        if a in mat.index and b in mat.index:
            mat.loc[a, b] = mat.loc[b, a] = _f(v)
    return mat


def corr_matrix(overlap: dict[str, Any], kind: str = "spearman") -> pd.DataFrame:
    """Rank-correlation matrix ('spearman' | 'kendall') as a labelled DataFrame."""
    c = overlap.get(kind) or {"methods": [], "matrix": []}
    return pd.DataFrame(np.array(c["matrix"], dtype=float).reshape(len(c["methods"]), -1),
                        index=c["methods"], columns=c["methods"])


def flagged_table(overlap: dict[str, Any], q: int | str) -> pd.DataFrame:
    """question_id x method booleans: is the question among the method's top-q% most uncertain."""
    fl = overlap.get("flagged", {}).get(str(q), {})
    ids = sorted({i for v in fl.values() for i in v})
    t = pd.DataFrame({m: [i in set(v) for i in ids] for m, v in fl.items()}, index=pd.Index(ids, name="question_id"))
    t["n_methods"] = t.sum(axis=1)
    return t.sort_values("n_methods", ascending=False, kind="stable")


def fragility_table(fragility: dict[str, Any], sweep: str) -> pd.DataFrame:
    """Per method: range and worst of AUROC, Kendall and Jaccard@20 over one sweep."""
    meth = fragility.get("sweeps", {}).get(sweep, {}).get("methods", {})
    cols = ["range_auroc", "worst_auroc", "range_kendall", "worst_kendall", "range_jaccard20", "worst_jaccard20"]
    return pd.DataFrame({m: {c: _f(d.get(c)) for c in cols} for m, d in meth.items()}).T.sort_values(
        "range_auroc", ascending=False) if meth else pd.DataFrame(columns=cols)


def separation_table(geometry: dict[str, Any], layer: str, method: str) -> pd.DataFrame:
    """Rows silhouette/ARI/NMI/probe AUROC; columns confidence/correctness x full/2D."""
    d = geometry.get("layers", {}).get(layer, {}).get(method, {})
    out = {}
    for what in ("confidence", "correctness"):
        m = d.get(what, {})
        out[f"{what} (full)"] = {k: _f(m.get(f"{k}_full")) for k in ("silhouette", "ari", "nmi")}
        out[f"{what} (full)"]["probe_auroc"] = _f(m.get("probe_auroc"))
        out[f"{what} (2D)"] = {k: _f(m.get(f"{k}_2d")) for k in ("silhouette", "ari", "nmi")}
        out[f"{what} (2D)"]["probe_auroc"] = float("nan")
    return pd.DataFrame(out)


def umap_points(umap: pd.DataFrame, layer: str, qtable: pd.DataFrame, method: str) -> pd.DataFrame:
    """Greedy points of one layer joined with the question table; adds confidence, its median split, CH flag.

    Columns: question_id, x, y, question, answer, verdict, uncertainty, confidence (0-1, rank of -U),
    conf_group ('high'|'low'|'n/a'), confident_hallucination (bool).
    """
    u = umap[(umap["layer"] == layer) & (umap["sample_index"] == -1)][["question_id", "x", "y"]]
    t = u.merge(qtable[["question_id", "question", "answer", "verdict", method]], on="question_id", how="left")
    t = t.rename(columns={method: "uncertainty"})
    t["confidence"] = 1 - t["uncertainty"].rank(pct=True, na_option="keep")
    med = t["uncertainty"].median()
    t["conf_group"] = np.where(t["uncertainty"].isna(), "n/a", np.where(t["uncertainty"] <= med, "high", "low"))
    t["confident_hallucination"] = (t["conf_group"] == "high") & (t["verdict"] == "wrong")
    return t


def samples_view(generations: pd.DataFrame, verification: pd.DataFrame, clusters: pd.DataFrame, qid: str,
                 setting: str = REF_SETTING, rule: str = "cosine", tau: float = 0.85) -> pd.DataFrame:
    """The question's samples with cluster id, cluster size, log-probs and verdict, grouped by cluster."""
    g = generations[(generations["question_id"] == qid) & (generations["setting"] == setting)
                    & (generations["kind"] == "sample")].sort_values("index")
    v = verification[(verification["question_id"] == qid) & (verification["setting"] == setting)
                     & (verification["kind"] == "sample")][["index", "label"]]
    t = g[["index", "text", "token_logprobs", "n_tokens"]].merge(v, on="index", how="left")
    t["sum_logprob"] = [float(np.sum(x)) if len(x) else np.nan for x in t["token_logprobs"]]
    t["mean_logprob"] = [float(np.mean(x)) if len(x) else np.nan for x in t["token_logprobs"]]
    cids = cluster_ids_for(clusters, qid, setting, rule, tau)
    t["cluster"] = list(cids) if cids is not None and len(cids) == len(t) else -1
    t["cluster_size"] = t.groupby("cluster")["index"].transform("size")
    return t.drop(columns=["token_logprobs"]).sort_values(["cluster", "index"], kind="stable")


def cluster_ids_for(clusters: pd.DataFrame, qid: str, setting: str = REF_SETTING, rule: str = "cosine",
                    tau: float = 0.85) -> list[int] | None:
    """Cluster ids (aligned with sample index) for one question/setting/rule/tau; None when absent."""
    c = clusters[(clusters["question_id"] == qid) & (clusters["setting"] == setting) & (clusters["rule"] == rule)]
    if rule == "cosine" or not c["tau"].isna().all():
        c = c[np.isclose(c["tau"].astype(float), tau)]
    return [int(x) for x in c.iloc[0]["cluster_ids"]] if len(c) else None


def conformal_qhat(clusters: pd.DataFrame, verification: pd.DataFrame, alpha: float = 0.1,
                   rule: str = "cosine", tau: float = 0.85) -> float | None:
    """Split-conformal threshold with every coverable question as calibration (display only).

    Nonconformity of an answer = 1 - frequency of its cluster; a question's score = the lowest score
    of its verified-right samples; q_hat = the ceil((n+1)(1-alpha))/n empirical quantile. None if n = 0.
    """
    v = verification[(verification["setting"] == REF_SETTING) & (verification["kind"] == "sample")]
    right = v[v["label"] == "right"].groupby("question_id")["index"].apply(set)
    scores = []
    for qid, idx in right.items():
        cids = cluster_ids_for(clusters, qid, REF_SETTING, rule, tau)
        if not cids:
            continue
        freq = np.bincount(cids) / len(cids)
        ok = [1 - freq[cids[i]] for i in idx if i < len(cids)]
        if ok:
            scores.append(min(ok))
    n = len(scores)
    if n == 0:
        return None
    k = math.ceil((n + 1) * (1 - alpha))
    return float(np.sort(scores)[min(k, n) - 1]) if k <= n else 1.0


def conformal_set(cluster_ids: list[int], q_hat: float) -> list[int]:
    """Clusters whose nonconformity 1 - freq is <= q_hat (the prediction set), largest first."""
    if not cluster_ids:
        return []
    freq = np.bincount(cluster_ids) / len(cluster_ids)
    keep = [c for c in range(len(freq)) if freq[c] > 0 and 1 - freq[c] <= q_hat + 1e-12]
    return sorted(keep, key=lambda c: -freq[c])


def cosine_matrix(texts: list[str], embeddings: np.ndarray, text_index: dict[str, int]) -> np.ndarray:
    """Cosine similarity (m, m) between the stored embeddings of *texts*; NaN rows for texts without one."""
    m = len(texts)
    vec = np.full((m, embeddings.shape[1] if embeddings.ndim == 2 else 0), np.nan)
    for i, t in enumerate(texts):
        j = text_index.get(t)
        if j is not None:
            vec[i] = embeddings[j].astype(float)
    norm = np.linalg.norm(vec, axis=1, keepdims=True)
    vec = vec / np.where(norm > 0, norm, 1)
    return vec @ vec.T
