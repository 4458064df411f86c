"""Hidden-state geometry: projection and separation metrics (uq_core.analyses.geometry)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from uq_core.analyses.geometry import (confidence_labels, geometry_run, project, reduce, separation,
                                       summary_geometry)
from uq_core.schema import GENERATION_COLUMNS, VERIFICATION_COLUMNS
from uq_core.stats.embeddings import EmbeddingStore, save_store
from uq_core.store import Run, RunError, read_table, write_table

KEYS = {"silhouette_full", "silhouette_2d", "ari_full", "ari_2d", "nmi_full", "nmi_2d", "probe_auroc"}


def _blobs(n=200, d=10, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    X = rng.normal(size=(n, d)) + 3.0 * y[:, None]  # centres 3 sqrt(d) apart, unit noise
    return X, y.astype(float)


def test_blobs_separate_and_shuffled_labels_do_not():
    X, y = _blobs()
    s = separation(X, y, seed=0)
    assert s["silhouette"] > 0.5 and s["ari"] > 0.9 and s["nmi"] > 0.8 and s["probe_auroc"] > 0.99
    shuffled = np.random.default_rng(1).permutation(y)
    s0 = separation(X, shuffled, seed=0)
    assert abs(s0["silhouette"]) < 0.1 and abs(s0["ari"]) < 0.1 and abs(s0["nmi"]) < 0.1
    assert abs(s0["probe_auroc"] - 0.5) < 0.15


def test_projection_keeps_blobs_apart_and_is_seeded():
    X, y = _blobs(n=120, d=30)
    Y = project(X, seed=0)
    assert Y.shape == (120, 2) and Y.dtype == np.float32
    s = separation(Y, y, seed=0, probe=False)
    assert s["silhouette"] > 0.5 and s["ari"] > 0.9
    np.testing.assert_array_equal(Y, project(X, seed=0))


def test_reduce_dimensions():
    rng = np.random.default_rng(0)
    assert reduce(rng.normal(size=(30, 80))).shape == (30, 29)  # n - 1
    assert reduce(rng.normal(size=(300, 80))).shape == (300, 50)
    assert reduce(rng.normal(size=(300, 7))).shape == (300, 7)
    with pytest.raises(ValueError, match="at least 3 rows"):
        reduce(np.zeros((2, 5)))


def test_confidence_labels_and_degenerate_inputs():
    lab = confidence_labels([0.1, 0.9, np.nan, 0.5, 0.7])
    np.testing.assert_array_equal(lab, [0, 1, np.nan, 0, 1])
    X, _ = _blobs(40)
    assert all(np.isnan(v) for v in separation(X, np.zeros(40)).values())  # one class
    with pytest.raises(ValueError, match="rows"):
        separation(X, np.zeros(10))


def _hidden_run(path, n=60, m=3, hidden=True, seed=0):
    """Fabricated run: greedy/sample verification, scores, and hidden states (or answer embeddings)."""
    rng = np.random.default_rng(seed)
    run = Run.create(path, {}, "fabricated", ["x"], seed)
    qids = [f"q{i:03d}" for i in range(n)]
    wrong = (np.arange(n) % 3 == 0).astype(float)
    ver, gens = [], []
    for i, q in enumerate(qids):
        ver.append((q, "ref", "greedy", 0, "wrong" if wrong[i] else ("unverifiable" if i == 1 else "right"), "x", ""))
        gens.append((q, "ref", "greedy", 0, f"greedy {q}", [], [], 0, "stop", 0.0, 1.0, "t", 0))
        for j in range(m):
            ver.append((q, "ref", "sample", j, "right" if j == 0 else "wrong", "x", ""))
            gens.append((q, "ref", "sample", j, f"sample {q} {j}", [], [], 0, "stop", 1.0, 1.0, "t", j))
    run.write("verification", pd.DataFrame(ver, columns=VERIFICATION_COLUMNS))
    run.write("generations", pd.DataFrame(gens, columns=GENERATION_COLUMNS))
    conf_axis = rng.normal(size=n)
    write_table(run.path / "scores.parquet", pd.DataFrame(
        {"setting": "ref", "question_id": qids, "semantic_entropy": conf_axis, "p_true": rng.random(n),
         "off": np.nan}))
    if hidden:
        H = rng.normal(size=(n, 2, 16))
        H[:, 1, 0] += 5 * (conf_axis > np.median(conf_axis))  # layer 1: confidence is a visible direction
        run.write_array("hidden/greedy_last.npy", H.astype(np.float16))
        run.write_array("hidden/samples_last.npy", rng.normal(size=(n, m, 16)).astype(np.float16))
        run.write_json("hidden/index.json", {"question_ids": qids, "layers": [3, 7], "sample_layer": 7,
                                             "source": "hidden_states"})
    else:
        texts = [g[4] for g in gens]
        vec = rng.normal(size=(len(texts), 384))
        save_store(run, EmbeddingStore(texts, (vec / np.linalg.norm(vec, axis=1, keepdims=True)).astype(np.float32),
                                       {}))
    return run


def test_geometry_run_hidden_states(tmp_path):
    run = _hidden_run(tmp_path / "r")
    out = geometry_run(run)
    assert out["source"] == "hidden_states" and out["split"] == "median"
    assert set(out["layers"]) == {"L3", "L7", "samples"}
    for layer in out["layers"].values():
        assert set(layer) == {"semantic_entropy", "p_true"}  # the all-NaN method is left out
        for d in layer.values():
            assert set(d["confidence"]) == KEYS and set(d["correctness"]) == KEYS
    # the planted confidence direction in layer 7 separates; the random p_true does not
    assert out["layers"]["L7"]["semantic_entropy"]["confidence"]["probe_auroc"] > 0.9
    assert out["layers"]["L7"]["p_true"]["confidence"]["probe_auroc"] < 0.8
    pts = read_table(run.path / "analyses/umap.parquet")
    assert list(pts.columns) == ["question_id", "layer", "sample_index", "x", "y"]
    assert len(pts) == 60 * 2 + 60 * 3
    assert (pts[pts["layer"] == "L3"]["sample_index"] == -1).all()
    assert sorted(pts[pts["layer"] == "samples"]["sample_index"].unique()) == [0, 1, 2]
    assert json.loads((run.path / "analyses/geometry.json").read_text()) == out
    summ = summary_geometry(out)
    assert set(summ["L7"]["p_true"]) == {"confidence", "correctness"}


def test_geometry_run_answer_embeddings(tmp_path):
    run = _hidden_run(tmp_path / "r", n=30, hidden=False)
    out = geometry_run(run, methods=["p_true"])
    assert out["source"] == "answer_embeddings"
    assert set(out["layers"]) == {"embedding", "samples"} and set(out["layers"]["embedding"]) == {"p_true"}
    with pytest.raises(RunError, match="not available"):
        geometry_run(run, methods=["off"])


def test_confidence_split_keeps_two_groups_when_ties_sit_at_the_median():
    from uq_core.analyses.geometry import confidence_labels
    u = np.array([0.0, 0.5, 2.3, 2.3, 2.3, 2.3, 2.3, np.nan])   # median = max: "U > median" would be empty
    lab = confidence_labels(u)
    assert np.isnan(lab[-1])
    assert set(lab[:-1]) == {0.0, 1.0} and lab[2:7].tolist() == [1.0] * 5
    assert confidence_labels(np.array([1.0, 2.0, 3.0, 4.0])).tolist() == [0.0, 0.0, 1.0, 1.0]
