"""A model judge against the objective verifier: agreement, and how judging changes every method's AUROC.

The pipeline stores judge labels in judge.parquet (question_id, judge_label 'right'|'wrong'|'unparseable',
judge_raw; optionally judge_model). Compared on the questions where both the verifier (greedy answer,
not 'unverifiable') and the judge (not 'unparseable') gave a label: accuracy (share of agreement) and
Cohen's kappa; per method, AUROC for detecting wrong answers under each label source on those same
questions (and where the method has a score).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from ..store import RunError, read_table
from ._load import available_methods, clean, greedy_labels, ref_scores

JUDGE_FILE = "judge.parquet"
JUDGE_COLUMNS = ["question_id", "judge_label", "judge_raw"]
JUDGE_LABELS = ("right", "wrong", "unparseable")
NO_JUDGE = {"available": False, "reason": "no judge labels in this run (run `python -m uq_core judge RUN`)"}
SYSTEM = ("You grade answers to questions. Compare the proposed answer with the reference answer(s) and reply "
          "with a single word: Yes if the proposed answer is correct, No otherwise.")
_YES = re.compile(r"\b(yes|correct|true)\b")
_NO = re.compile(r"\b(no|incorrect|false|not correct)\b")


def judge_messages(question: str, reference_answers: list[str], answer: str) -> list[dict[str, str]]:
    """Chat messages asking a judge model whether *answer* is correct given the references.

    Returns
    -------
    [{"role": "system", ...}, {"role": "user", ...}] (OpenAI / transformers chat format).
    """
    if isinstance(reference_answers, str):
        reference_answers = [reference_answers]
    refs = "; ".join(str(r) for r in reference_answers) or "(none given)"
    user = (f"Question: {question}\nReference answer(s): {refs}\nProposed answer: {answer}\n\n"
            "Is the proposed answer correct given the reference? Answer Yes or No.")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_judge(reply: str | None) -> str:
    """'right' | 'wrong' | 'unparseable' from a judge reply.

    The first word decides when it is yes/no (also correct/incorrect, true/false); otherwise the reply
    must contain words of only one polarity. Empty, both or neither = 'unparseable'.
    """
    if not reply or not str(reply).strip():
        return "unparseable"
    text = re.sub(r"[^a-z ]+", " ", str(reply).lower()).strip()
    first = text.split()[0] if text.split() else ""
    if first in ("yes", "correct", "true"):
        return "right"
    if first in ("no", "incorrect", "false"):
        return "wrong"
    no = bool(_NO.search(text))
    yes = bool(_YES.search(_NO.sub(" ", text)))
    if yes != no:
        return "right" if yes else "wrong"
    return "unparseable"


def _auroc(u: np.ndarray, wrong: np.ndarray) -> float:
    ok = np.isfinite(u)
    if ok.sum() < 2 or len(np.unique(wrong[ok])) < 2:
        return float("nan")
    return float(roc_auc_score(wrong[ok], u[ok]))


def compare_labels(verified: pd.Series, judged: pd.Series, scores: pd.DataFrame) -> dict:
    """Agreement of judge and verifier labels and each method's AUROC under both.

    Parameters
    ----------
    verified, judged : Series question_id -> 'right'|'wrong' (other values are left out).
    scores : DataFrame (n_questions, n_methods) uncertainty, index question_id.

    Returns
    -------
    {"n", "accuracy", "kappa", "judge_accuracy_of_answers", "verified_accuracy_of_answers",
     "methods": {m: {"auroc_verified", "auroc_judge"}}}
    """
    common = verified.index.intersection(judged.index)
    v, j = verified.reindex(common), judged.reindex(common)
    keep = v.isin(("right", "wrong")) & j.isin(("right", "wrong"))
    v, j = v[keep], j[keep]
    n = len(v)
    out = {"n": n, "accuracy": float((v == j).mean()) if n else np.nan,
           "kappa": np.nan, "verified_accuracy_of_answers": float((v == "right").mean()) if n else np.nan,
           "judge_accuracy_of_answers": float((j == "right").mean()) if n else np.nan, "methods": {}}
    if n >= 2 and (v.nunique() > 1 or j.nunique() > 1):
        out["kappa"] = float(cohen_kappa_score(v, j, labels=["right", "wrong"]))
    yv = (v == "wrong").to_numpy(float)
    yj = (j == "wrong").to_numpy(float)
    sc = scores.reindex(v.index)
    for m in scores.columns:
        u = sc[m].to_numpy(float)
        out["methods"][m] = {"auroc_verified": _auroc(u, yv), "auroc_judge": _auroc(u, yj)}
    return out


def load_judge(run) -> pd.DataFrame | None:
    """judge.parquet checked for its columns and labels, or None when the run has no judge labels."""
    if not run.has(JUDGE_FILE):
        return None
    df = read_table(run.path / JUDGE_FILE, JUDGE_COLUMNS)
    bad = sorted(set(df["judge_label"].astype(str)) - set(JUDGE_LABELS))
    if bad:
        raise RunError(f"{run.path / JUDGE_FILE}: unknown judge_label value(s) {bad}; expected {JUDGE_LABELS}")
    return df.drop_duplicates("question_id", keep="last")


def judge_run(run) -> dict:
    """judge.json for *run* (writes analyses/judge.json); {"available": false, ...} without judge labels."""
    df = load_judge(run)
    if df is None:
        out = dict(NO_JUDGE)
    else:
        scores = ref_scores(run)
        scores = scores[available_methods(run, scores)]
        model = (df["judge_model"].dropna().astype(str).iloc[0] if "judge_model" in df.columns
                 and df["judge_model"].notna().any() else run.manifest.get("stages", {}).get("judge", {}).get("model"))
        res = compare_labels(greedy_labels(run), df.set_index("question_id")["judge_label"].astype(str), scores)
        out = {"available": True, "reason": "", "judge": model,
               "n_unparseable": int((df["judge_label"] == "unparseable").sum()), **res}
        if res["n"] == 0:
            out.update(available=False, reason="no question has both a verifier and a parseable judge label")
    out = clean(out)
    run.write_json("analyses/judge.json", out)
    return out


def summary_judge(judge: dict) -> dict:
    """What `summary --json` shows: availability, agreement, kappa, n."""
    return {k: judge.get(k) for k in ("available", "reason", "judge", "accuracy", "kappa", "n")}
