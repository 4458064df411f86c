"""UQ methods: hand-computed formula values, registry, availability, vectorised == per-question loop."""
import math

import numpy as np
import pandas as pd
import pytest

from uq_core.bench_scoring import compare_scores, reference_scores
from uq_core.methods import (REGISTRY, ScoreConfig, Unavailable, build_inputs, compute_and_store, register, score,
                             subsample)
from uq_core.methods.consistency import rb_entropy
from uq_core.methods.graph import degree_from, eccentricity_from, eigv_from, laplacian_eigh
from uq_core.methods.hidden import cross_fitted_probe
from uq_core.stats import Embedder
from uq_core.synthetic import make_run_from_answers, make_synthetic_run

EXPECTED = {"msp", "perplexity", "mean_token_entropy", "predictive_entropy", "num_sets", "lexical_similarity",
            "semantic_entropy", "semantic_entropy_rb", "eigv", "degree", "eccentricity", "p_true", "verbalized",
            "hidden_probe", "embedding_dispersion"}


@pytest.fixture(scope="module")
def embed():
    return Embedder()


def _graph(w):
    w = np.asarray(w, float)[None]
    vals, vecs = laplacian_eigh(w)
    mask = np.ones(w.shape[:2], bool)
    return eigv_from(vals)[0], degree_from(w, mask)[0], vals, vecs


@pytest.mark.parametrize("m", [2, 5, 20])
def test_graph_identity_and_ones(m):
    eig, deg, vals, vecs = _graph(np.eye(m))
    assert eig == pytest.approx(m) and deg == pytest.approx((m - 1) / m)
    assert eccentricity_from(vals, vecs, 0.9, "l2")[0] == pytest.approx(math.sqrt(m - 1))
    assert eccentricity_from(vals, vecs, 0.9, "l1")[0] == pytest.approx(m * math.sqrt(1 - 1 / m))
    eig, deg, vals, vecs = _graph(np.ones((m, m)))
    assert eig == pytest.approx(1.0) and deg == pytest.approx(0.0, abs=1e-12)
    assert eccentricity_from(vals, vecs, 0.9, "l2")[0] == pytest.approx(0.0, abs=1e-7)


def test_graph_two_blocks():
    w = np.kron(np.eye(2), np.ones((3, 3)))
    eig, deg, vals, vecs = _graph(w)
    assert eig == pytest.approx(2.0) and deg == pytest.approx((36 - 18) / 36)
    # kept eigenvectors = block indicators / sqrt(3): every answer is 1/sqrt(6) from the centre -> sqrt(6/6)
    assert eccentricity_from(vals, vecs, 0.9, "l2")[0] == pytest.approx(1.0)


def test_rb_estimator_hand_computation():
    l = np.array([[-1.0, -2.0, -0.5]])
    ids = np.array([[0, 0, 1]])
    z = math.exp(-1) + math.exp(-2) + math.exp(-0.5)
    p0, p1 = (math.exp(-1) + math.exp(-2)) / z, math.exp(-0.5) / z
    expected = -(p0 * math.log(p0) + p1 * math.log(p1))
    assert rb_entropy(ids, l, np.ones((1, 3), bool))[0] == pytest.approx(expected)


def test_end_to_end_hand_values(tmp_path, embed):
    answers = {"two_by_two": ["Paris", "paris.", "Lyon", "lyon"], "same": ["4", "4", "4"],
               "one": ["only"], "empty": ["", "", "x"]}
    lps = {"two_by_two": [[-0.5, -0.5], [-1.0], [-0.2, -0.4, -0.6], [-3.0]]}
    run = make_run_from_answers(tmp_path / "r", answers, greedy_logprobs={"two_by_two": [-0.1, -0.3]},
                                logprobs=lps, labels={"one": "unverifiable"})
    inp = build_inputs(run, embedder=embed)
    res = score(inp, ScoreConfig(rule="exact"))
    s = res.scores
    assert s.loc["two_by_two", "semantic_entropy"] == pytest.approx(math.log(2))
    assert s.loc["two_by_two", "num_sets"] == 2
    l = [-0.5, -1.0, -0.4, -3.0]
    c0 = math.log(math.exp(l[0]) + math.exp(l[1])) - math.log(sum(math.exp(x) for x in l))
    p0 = math.exp(c0)
    assert s.loc["two_by_two", "semantic_entropy_rb"] == pytest.approx(-(p0 * math.log(p0) + (1 - p0) * math.log(1 - p0)))
    assert s.loc["two_by_two", "msp"] == pytest.approx(0.4)
    assert s.loc["two_by_two", "perplexity"] == pytest.approx(math.exp(0.2))
    assert s.loc["two_by_two", "predictive_entropy"] == pytest.approx(-np.mean(l))
    # all samples identical
    assert s.loc["same", "semantic_entropy"] == 0 and s.loc["same", "num_sets"] == 1
    assert s.loc["same", "eigv"] == pytest.approx(1.0) and s.loc["same", "degree"] == pytest.approx(0, abs=1e-6)
    assert s.loc["same", "lexical_similarity"] == 0
    # one sample: consistency undefined -> NaN for that question, reported in availability
    assert np.isnan(s.loc["one", "semantic_entropy"]) and np.isnan(s.loc["one", "eigv"])
    assert "NaN for" in res.availability["eigv"][1]
    # empty strings are answers like any other
    assert s.loc["empty", "num_sets"] == 2 and s.loc["empty", "lexical_similarity"] == pytest.approx(1 - 1 / 3)
    # missing log-probs elsewhere: msp NaN there; no self-eval / hidden: unavailable with reasons
    assert np.isnan(s.loc["same", "msp"])
    assert res.availability["p_true"] == (False, "the run has no self_eval table")
    assert not res.availability["hidden_probe"][0] and "hidden" in res.availability["hidden_probe"][1]
    assert s["p_true"].isna().all() and np.isnan(inp.labels[inp.question_ids.index("one")])


def test_unavailable_reasons_no_logprobs_one_sample(tmp_path, embed):
    run = make_run_from_answers(tmp_path / "r", {"a": ["x"], "b": ["y"]})
    res = score(build_inputs(run, embedder=embed))
    for name in ("msp", "mean_token_entropy", "predictive_entropy"):
        ok, reason = res.availability[name]
        assert not ok and "log-probs" in reason
    for name in ("semantic_entropy", "eigv", "degree", "eccentricity", "lexical_similarity", "embedding_dispersion"):
        ok, reason = res.availability[name]
        assert not ok and "at least 2 sampled" in reason
    assert res.scores.isna().all().all()


def test_registry_names_and_rules():
    assert set(REGISTRY) == EXPECTED
    for m in REGISTRY.values():
        assert m.description and "\n" not in m.description and m.needs
    with pytest.raises(ValueError, match="registered twice"):
        register("msp", "token_prob", ("x",), "dup")(lambda ctx: None)
    with pytest.raises(ValueError, match="unknown family"):
        register("new", "magic", (), "x")
    with pytest.raises(ValueError, match="unknown method"):
        score(None, ScoreConfig(), ["nope"])
    with pytest.raises(ValueError, match="rule"):
        ScoreConfig(rule="rouge")
    with pytest.raises(ValueError, match="tau"):
        ScoreConfig(tau=1.5)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    run = make_synthetic_run(tmp_path_factory.mktemp("s") / "run", n_questions=30, m=8, seed=3)
    return run, build_inputs(run)


@pytest.mark.parametrize("cfg", [ScoreConfig(), ScoreConfig(rule="exact", similarity="jaccard"),
                                 ScoreConfig(tau=0.95, similarity="cosine_clip", eccentricity_variant="l1"),
                                 ScoreConfig(eccentricity_variant="row_centred", eig_threshold=0.5)])
def test_vectorised_matches_per_question_loop(synth, cfg):
    _, inp = synth
    res = score(inp, cfg)
    diffs = compare_scores({k: res.scores[k].to_numpy() for k in REGISTRY}, reference_scores(inp, cfg))
    assert set(diffs) == EXPECTED and all(res.availability[k][0] for k in EXPECTED)


def test_self_eval_direction_and_missing(synth):
    import dataclasses
    verb = synth[1].verbalized.copy()
    verb[[0, 4]] = np.nan                                    # unparseable replies
    inp = dataclasses.replace(synth[1], verbalized=verb, cache={})
    s = score(inp, ScoreConfig(), ["p_true", "verbalized"]).scores
    np.testing.assert_allclose(s["p_true"], 1 - inp.p_true)
    assert np.isnan(s["verbalized"].to_numpy())[[0, 4]].all() and s["verbalized"].notna().sum() == inp.n_q - 2
    np.testing.assert_allclose(s["verbalized"].iloc[1], 1 - verb[1] / 100)


def test_probe_is_out_of_fold():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 200))
    y = (rng.random(80) < 0.5).astype(float)
    y[:3] = np.nan
    p = cross_fitted_probe(X, y, 5, 0)
    from sklearn.metrics import roc_auc_score
    ok = np.isfinite(y)
    assert np.isfinite(p).all()
    assert roc_auc_score(y[ok], p[ok]) < 0.75      # pure noise: an in-sample fit would separate perfectly
    with pytest.raises(Unavailable, match="at least 2 right"):
        cross_fitted_probe(X[:5], np.array([1, 1, 1, 1, 0.0]), 5, 0)


def test_subsample_keeps_order_and_rejects_too_many(synth):
    import dataclasses
    _, inp = synth
    tagged = dataclasses.replace(inp, sample_rows=np.arange(inp.n_q * 8).reshape(inp.n_q, 8), cache={})  # unique
    sub = subsample(tagged, 3, seed=1)
    assert sub.sample_text.shape[1] == 3 and (sub.counts == 3).all() and sub.cache == {}
    r = sub.sample_rows
    assert (np.diff(r, axis=1) > 0).all() and (r // 8 == np.arange(inp.n_q)[:, None]).all()
    assert not np.array_equal(r, subsample(tagged, 3, seed=2).sample_rows)
    with pytest.raises(ValueError, match="at most 8"):
        subsample(inp, 20)


def test_compute_and_store_writes_contract(tmp_path):
    run = make_synthetic_run(tmp_path / "r", n_questions=12, m=5, settings=("ref", "temperature=0.3"))

    def refuse(texts):
        raise AssertionError("strings already in stats/ must not be embedded again")
    res = compute_and_store(run, ScoreConfig(), embedder=refuse)
    scores = pd.read_parquet(run.path / "scores.parquet")
    assert list(scores.columns[:2]) == ["setting", "question_id"] and set(scores.columns[2:]) == EXPECTED
    assert sorted(scores["setting"].unique()) == ["ref", "temperature=0.3"] and len(scores) == 24
    meta = run.json("stats/methods.json")
    assert set(meta) == EXPECTED and set(meta["msp"]) == {"family", "needs", "description", "available", "reason"}
    cl = pd.read_parquet(run.path / "stats/clusters.parquet")
    assert set(cl["rule"]) == {"cosine", "exact"} and len(cl[cl["rule"] == "cosine"]["tau"].unique()) == 5
    assert all(len(c) == 5 for c in cl["cluster_ids"])
    assert res.setting == "ref" and run.stage_done("methods")


def test_subsample_reuses_cached_pairs_exactly(synth):
    import dataclasses
    _, inp = synth
    warm = dataclasses.replace(inp, cache={})
    score(warm, ScoreConfig(similarity="jaccard"))                  # fills cos and jaccard caches
    a = score(subsample(warm, 4, seed=3), ScoreConfig(similarity="jaccard")).scores
    b = score(subsample(dataclasses.replace(inp, cache={}), 4, seed=3), ScoreConfig(similarity="jaccard")).scores
    pd.testing.assert_frame_equal(a, b, rtol=1e-12)
