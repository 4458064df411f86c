"""Fragility sweeps on a synthetic run with temperature and template settings."""
import json

import numpy as np
import pandas as pd
import pytest

from uq_core.analyses.fragility import compare, fragility_run, top_jaccard
from uq_core.methods import ScoreConfig
from uq_core.synthetic import make_synthetic_run


def test_top_jaccard_hand_values():
    a = np.arange(10.0)
    assert top_jaccard(a, a) == 1.0
    assert top_jaccard(a, -a) == 0.0
    b = a.copy()
    b[[9, 7]] = b[[7, 9]]                       # top-2 of a = {9, 8}; of b = {7, 8}
    assert top_jaccard(a, b) == pytest.approx(1 / 3)


def test_compare_on_common_questions():
    ref = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}, index=["a", "b", "c", "d"])
    other = pd.DataFrame({"x": [4.0, 3.0, 2.0]}, index=["d", "c", "b"])
    labels = pd.Series([0.0, 1.0, 0.0], index=["b", "c", "d"])
    out = compare(ref, other, labels, ["x"], n_boot=50)["x"]
    assert out["kendall"] == pytest.approx(1.0) and out["jaccard20"] == 1.0
    assert out["auroc"] == pytest.approx(0.5)          # wrong: b (U=2), d (U=4); right: c (U=3)


@pytest.fixture(scope="module")
def frag(tmp_path_factory):
    run = make_synthetic_run(tmp_path_factory.mktemp("f") / "run", n_questions=50, m=10, seed=2,
                             settings=("ref", "temperature=0.3", "template=qa_terse"))
    return run, fragility_run(run, ScoreConfig(), seeds=(0, 1), n_boot=200)


def test_sweeps_present_and_shaped(frag):
    run, out = frag
    assert set(out["sweeps"]) == {"n_samples", "tau", "rule", "temperature", "template"}
    assert out["sweeps"]["n_samples"]["settings"] == [2, 5, 10]
    assert out["sweeps"]["rule"]["settings"] == ["cosine", "exact"]
    assert out["sweeps"]["temperature"]["settings"] == ["temperature=1.0 (ref)", "temperature=0.3"]
    assert out["reference"]["n_samples"] == 10 and out["reference"]["tau"] == 0.85
    for sweep in out["sweeps"].values():
        n = len(sweep["settings"])
        for m, d in sweep["methods"].items():
            assert len(d["kendall"]) == len(d["jaccard20"]) == len(d["auroc"]) == len(d["auroc_ci"]) == n
            vals = [v for v in d["auroc"] if v is not None]
            assert d["range_auroc"] == pytest.approx(max(vals) - min(vals)) and d["worst_auroc"] == min(vals)
    text = (run.path / "analyses/fragility.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))


def test_reference_setting_is_identical_and_sweeps_move_consistency_only(frag):
    _, out = frag
    tau = out["sweeps"]["tau"]
    i = tau["settings"].index(0.85)
    for m, d in tau["methods"].items():
        assert d["kendall"][i] == pytest.approx(1.0) and d["jaccard20"][i] == 1.0
    assert tau["methods"]["msp"]["range_kendall"] == 0.0            # tau does not touch token methods
    ns = out["sweeps"]["n_samples"]["methods"]["semantic_entropy"]
    assert ns["kendall"][0] < ns["kendall"][-1]                      # 2 samples disagree more than 10
    temp = out["sweeps"]["temperature"]["methods"]["eigv"]
    assert temp["kendall"][0] == pytest.approx(1.0) and temp["kendall"][1] < 1.0
