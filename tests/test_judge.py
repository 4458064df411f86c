"""Model judge vs verifier (uq_core.analyses.judge)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from uq_core.analyses.judge import NO_JUDGE, compare_labels, judge_messages, judge_run, parse_judge, summary_judge
from uq_core.schema import VERIFICATION_COLUMNS
from uq_core.store import Run, RunError, write_table


@pytest.mark.parametrize("reply,label", [
    ("Yes", "right"), ("yes.", "right"), ("**Yes**, it matches.", "right"), (" YES", "right"),
    ("No", "wrong"), ("No, the answer is Paris.", "wrong"), ("Incorrect.", "wrong"),
    ("The proposed answer is correct.", "right"), ("The proposed answer is not correct.", "wrong"),
    ("", "unparseable"), (None, "unparseable"), ("Maybe", "unparseable"), ("I cannot say yes or no", "unparseable"),
    ("Nobody knows", "unparseable"),
])
def test_parse_judge(reply, label):
    assert parse_judge(reply) == label


def test_judge_messages():
    msgs = judge_messages("Capital of France?", ["Paris", "paris, France"], "Lyon")
    assert [m["role"] for m in msgs] == ["system", "user"]
    user = msgs[1]["content"]
    assert "Capital of France?" in user and "Paris; paris, France" in user and "Proposed answer: Lyon" in user
    assert user.endswith("Is the proposed answer correct given the reference? Answer Yes or No.")
    assert "Reference answer(s): Paris\n" in judge_messages("q", "Paris", "a")[1]["content"]


def test_compare_labels_by_hand():
    ids = [f"q{i}" for i in range(8)]
    verified = pd.Series(["right", "right", "wrong", "wrong", "right", "wrong", "unverifiable", "right"], ids)
    judged = pd.Series(["right", "right", "wrong", "right", "right", "wrong", "right", "unparseable"], ids)
    u = pd.DataFrame({"m": [0.1, 0.2, 0.9, 0.3, 0.15, 0.8, 0.5, 0.5]}, index=ids)
    res = compare_labels(verified, judged, u)
    assert res["n"] == 6 and res["accuracy"] == pytest.approx(5 / 6)
    assert res["methods"]["m"]["auroc_verified"] == pytest.approx(
        roc_auc_score([0, 0, 1, 1, 0, 1], [0.1, 0.2, 0.9, 0.3, 0.15, 0.8]))
    assert res["methods"]["m"]["auroc_judge"] == 1.0  # the judge agrees with the method where the verifier does not
    from sklearn.metrics import cohen_kappa_score
    assert res["kappa"] == pytest.approx(cohen_kappa_score(["r", "r", "w", "w", "r", "w"], ["r", "r", "w", "r", "r", "w"]))


def _run(path, judge=True, n=30, seed=0):
    rng = np.random.default_rng(seed)
    run = Run.create(path, {}, "fabricated", ["x"], seed)
    qids = [f"q{i:02d}" for i in range(n)]
    lab = np.where(rng.random(n) < 0.5, "right", "wrong")
    run.write("verification", pd.DataFrame([(q, "ref", "greedy", 0, l, "exact", "") for q, l in zip(qids, lab)],
                                           columns=VERIFICATION_COLUMNS))
    write_table(run.path / "scores.parquet", pd.DataFrame({"setting": "ref", "question_id": qids,
                                                           "a": rng.random(n), "b": (lab == "wrong") + 0.0}))
    if judge:
        jl = lab.astype(object)
        jl[:5] = "right"
        jl[5] = "unparseable"
        write_table(run.path / "judge.parquet", pd.DataFrame({"question_id": qids, "judge_label": jl,
                                                              "judge_raw": "Yes", "judge_model": "tiny-judge"}))
    return run


def test_judge_run(tmp_path):
    run = _run(tmp_path / "r")
    out = judge_run(run)
    assert out["available"] is True and out["judge"] == "tiny-judge" and out["n"] == 29
    assert set(out) >= {"available", "reason", "judge", "accuracy", "kappa", "n", "methods"}
    assert set(out["methods"]) == {"a", "b"} and out["methods"]["b"]["auroc_verified"] == 1.0
    assert out["methods"]["b"]["auroc_judge"] < 1.0 or out["accuracy"] == 1.0
    assert json.loads((run.path / "analyses/judge.json").read_text()) == out
    assert summary_judge(out)["n"] == 29


def test_judge_run_without_labels_and_bad_labels(tmp_path):
    run = _run(tmp_path / "r", judge=False)
    assert judge_run(run) == NO_JUDGE and json.loads((run.path / "analyses/judge.json").read_text()) == NO_JUDGE
    write_table(run.path / "judge.parquet", pd.DataFrame({"question_id": ["q00"], "judge_label": ["maybe"],
                                                          "judge_raw": [""]}))
    with pytest.raises(RunError, match="unknown judge_label"):
        judge_run(run)
