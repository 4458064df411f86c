"""Method disagreement: flagged-set overlap, chance level, rank correlations (uq_core.analyses.disagreement)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from uq_core.analyses.disagreement import (PAPER_LABEL, disagreement, disagreement_run, expected_random_jaccard,
                                           jaccard, n_flagged, paper_table, summary_overlap, top_fraction_sets)
from uq_core.store import Run, RunError, write_table


def _scores(n=200, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.random(n)
    return pd.DataFrame({"a": a, "same": a * 3 + 1, "rev": -a, "other": rng.random(n)},
                        index=[f"q{i:04d}" for i in range(n)])


def test_top_fraction_sets_flags_highest_u():
    s = pd.DataFrame({"m": [0.1, 0.9, 0.5, np.nan, 0.7]}, index=list("abcde"))
    assert top_fraction_sets(s, 0.5)["m"] == ["b", "e"]  # k = round(0.5 * 4 scored) = 2; NaN left out
    assert top_fraction_sets(s, 0.1)["m"] == ["b"]  # at least one


def test_ties_are_broken_deterministically_not_alphabetically():
    ids = [f"q{i:03d}" for i in range(100)]
    s = pd.DataFrame({"m": np.zeros(100)}, index=ids)
    first = top_fraction_sets(s, 0.2)["m"]
    assert first == top_fraction_sets(s.iloc[::-1], 0.2)["m"]  # independent of row order
    assert len(first) == 20 and first != ids[:20]


@pytest.mark.parametrize("q", [0.1, 0.2, 0.3, 0.5])
def test_identical_and_reversed_rankings(q):
    s = _scores()
    sets = top_fraction_sets(s, q)
    assert jaccard(sets["a"], sets["same"]) == 1.0
    assert jaccard(sets["a"], sets["rev"]) == 0.0  # n = 200 is even: top and bottom halves are disjoint


def test_q_must_be_a_fraction():
    with pytest.raises(ValueError, match="did you mean 0.1"):
        top_fraction_sets(_scores(), 10)


@pytest.mark.parametrize("n,q", [(50, 0.1), (200, 0.2), (37, 0.3)])
def test_random_overlap_expectation_matches_simulation(n, q):
    exact = expected_random_jaccard(n, q)
    rng = np.random.default_rng(0)
    k = n_flagged(q, n)
    N = 20000

    def random_sets():
        mask = np.zeros((N, n), bool)
        mask[np.arange(N)[:, None], np.argsort(rng.random((N, n)), axis=1)[:, :k]] = True
        return mask

    a, b = random_sets(), random_sets()
    sims = (a & b).sum(axis=1) / (a | b).sum(axis=1)
    se = np.std(sims) / np.sqrt(len(sims))
    assert abs(np.mean(sims) - exact) < 4 * se
    # the pmf used sums to 1 and agrees with scipy's hypergeometric; large n approaches q / (2 - q)
    from scipy.stats import hypergeom

    from uq_core.analyses.disagreement import _lchoose
    x = np.arange(0, k + 1)
    p = np.exp(_lchoose(k, x) + _lchoose(n - k, k - x) - _lchoose(n, k))
    np.testing.assert_allclose(p, hypergeom.pmf(x, n, k, k), atol=1e-12)
    assert expected_random_jaccard(100000, q) == pytest.approx(q / (2 - q), rel=0.01)


def test_disagreement_dict_shape_and_correlations():
    s = _scores()
    s.loc["q0000", "other"] = np.nan  # pairwise complete
    out = disagreement(s)
    assert out["q"] == [10, 20, 30] and out["methods"] == ["a", "same", "rev", "other"]
    assert set(out["overlap"]) == {"10", "20", "30"} and len(out["overlap"]["10"]) == 6
    assert out["overlap"]["20"]["a|same"] == 1.0 and out["overlap"]["20"]["a|rev"] == 0.0
    assert out["random"]["10"] == pytest.approx(expected_random_jaccard(200, 0.1))
    sp = np.array(out["spearman"]["matrix"])
    kt = np.array(out["kendall"]["matrix"])
    i = out["methods"].index
    assert sp[i("a"), i("same")] == pytest.approx(1) and kt[i("a"), i("rev")] == pytest.approx(-1)
    assert abs(sp[i("a"), i("other")]) < 0.3
    assert out["pair_n"]["a|other"] == 199
    assert len(out["flagged"]["10"]["a"]) == 20 and len(out["flagged"]["10"]["other"]) == 20
    json.dumps(out, allow_nan=False)  # NaN already turned into null


def test_paper_table_and_summary():
    s = _scores().rename(columns={"a": "semantic_entropy", "same": "eigv", "other": "p_true"})
    out = disagreement(s)
    t = paper_table(out)
    assert list(t.columns) == ["pair", "q (%)", "this run", "random", PAPER_LABEL]
    assert len(t) == 9
    row = t[(t["pair"] == "semantic_entropy | eigv") & (t["q (%)"] == 10)].iloc[0]
    assert row["this run"] == 1.0 and row[PAPER_LABEL] == 0.134
    assert row["random"] == pytest.approx(out["random"]["10"])
    assert t[t["pair"] == "eigv | p_true"][PAPER_LABEL].tolist() == [0.224, 0.319, 0.404]
    summ = summary_overlap(out)
    assert set(summ) == {"10", "20", "30", "random"} and summ["10"]["semantic_entropy|eigv"] == 1.0


def test_paper_table_with_missing_methods_is_nan():
    t = paper_table(disagreement(_scores()))
    assert t["this run"].isna().all() and t[PAPER_LABEL].notna().all()


def test_disagreement_run(tmp_path):
    run = Run.create(tmp_path / "r", {}, "fabricated", ["x"], 0)
    s = _scores(60).rename_axis("question_id").reset_index()
    s.insert(0, "setting", "ref")
    s["unavail"] = np.nan
    s2 = s.copy()
    s2["setting"] = "temperature=1.0"
    s2["a"] = 0.0
    write_table(run.path / "scores.parquet", pd.concat([s, s2]))
    run.write_json("stats/methods.json", {"other": {"available": False, "reason": "test"}})
    out = disagreement_run(run)
    assert out["methods"] == ["a", "same", "rev"]  # unavailable and all-NaN methods left out
    assert out["overlap"]["10"]["a|same"] == 1.0  # only the 'ref' setting is used
    assert json.loads((run.path / "analyses/overlap.json").read_text()) == out


def test_disagreement_run_errors(tmp_path):
    run = Run.create(tmp_path / "r", {}, "fabricated", ["x"], 0)
    with pytest.raises(RunError, match="no scores.parquet"):
        disagreement_run(run)
    write_table(run.path / "scores.parquet", pd.DataFrame({"setting": ["ref"], "question_id": ["q"], "a": [1.0]}))
    with pytest.raises(RunError, match="at least 2"):
        disagreement_run(run)
