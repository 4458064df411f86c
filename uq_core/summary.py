"""One JSON object that sums up a run (``python -m uq_core summary RUN --json``)."""
from __future__ import annotations

from typing import Any

from . import store
from .schema import REF_SETTING


def _maybe(run: store.Run, rel: str) -> Any | None:
    return run.json(rel) if run.has(rel) else None


def basics(run: store.Run) -> dict[str, Any]:
    q = run.table("questions")
    out: dict[str, Any] = {"run": str(run.path), "model": run.manifest.get("model"), "n_questions": int(len(q)),
                           "datasets": run.manifest.get("datasets"), "stages": {
                               k: v.get("status") for k, v in run.manifest.get("stages", {}).items()}}
    if not run.has("verification.parquet"):
        return out
    v = run.table("verification")
    g = v[(v["setting"] == REF_SETTING) & (v["kind"] == "greedy")].merge(
        q[["id", "dataset"]], left_on="question_id", right_on="id")
    ok = g[g["label"] != "unverifiable"]
    out["n_unverifiable"] = int((g["label"] == "unverifiable").sum())
    out["n_right"] = int((ok["label"] == "right").sum())
    out["n_wrong"] = int((ok["label"] == "wrong").sum())
    out["accuracy"] = round(float((ok["label"] == "right").mean()), 4) if len(ok) else None
    out["accuracy_by_dataset"] = {ds: round(float((d["label"] == "right").mean()), 4)
                                  for ds, d in ok.groupby("dataset")}
    s = v[(v["setting"] == REF_SETTING) & (v["kind"] == "sample")]
    if len(s):
        out["sample_accuracy"] = round(float((s["label"] == "right").mean()), 4)
    if run.has("self_eval.parquet"):
        se = run.table("self_eval")
        out["verbalized_parse_rate"] = round(float(se["verbalized"].notna().mean()), 4) if len(se) else None
        out["p_true_available"] = bool(se["p_true"].notna().any())
    return out


def summarize(run: store.Run) -> dict[str, Any]:
    out = basics(run)
    ev = _maybe(run, "analyses/evaluation.json")
    if ev:
        keys = ("available", "reason", "auroc", "auroc_ci", "auprc", "prr", "prr_ci", "aurac", "ece", "brier",
                "ch_rate_10", "ch_count_10", "ch_rate_20", "ch_count_20", "worst_dataset")
        out["methods"] = {m: {k: d.get(k) for k in keys} for m, d in ev["methods"].items()}
    ov = _maybe(run, "analyses/overlap.json")
    if ov:
        from .analyses.disagreement import summary_overlap
        out["overlap"] = summary_overlap(ov)
    geo = _maybe(run, "analyses/geometry.json")
    if geo:
        from .analyses.geometry import summary_geometry
        out["geometry"] = summary_geometry(geo)
    conf = _maybe(run, "analyses/conformal.json")
    if conf:
        from .analyses.conformal import summary_conformal
        out["conformal"] = summary_conformal(conf)
    fr = _maybe(run, "analyses/fragility.json")
    if fr:
        out["fragility"] = {sweep: {"settings": d["settings"], "methods": {
            m: {k: md.get(k) for k in ("range_auroc", "worst_auroc", "range_kendall", "worst_kendall",
                                      "range_jaccard20", "worst_jaccard20")}
            for m, md in d["methods"].items()}} for sweep, d in fr.get("sweeps", {}).items()}
    jd = _maybe(run, "analyses/judge.json")
    if jd:
        out["judge"] = jd
    return out
