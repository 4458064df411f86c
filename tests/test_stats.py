"""Shared statistics: embeddings (real MiniLM), similarity stacks, transitive clustering."""
import math

import numpy as np
import pandas as pd
import pytest

from uq_core.stats import (Embedder, cosine_stack, embed_distinct, jaccard_stack, match_matrix, nli_stacks,
                           run_store, similarity_from, transitive_clusters)
from uq_core.stats.clustering import cluster_sizes
from uq_core.stats.embeddings import load_store
from uq_core.stats.similarity import NLIModel, normalise_text
from uq_core.synthetic import make_run_from_answers


@pytest.fixture(scope="module")
def embed():
    return Embedder()


def test_embedder_normalised_order_preserved(embed):
    texts = ["a considerably longer answer about the capital of France", "Paris", "", "the city of Paris"]
    e = embed(texts)
    assert e.shape == (4, 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(e[1], embed(["Paris"])[0], atol=1e-5)      # batching by length keeps order
    assert e[1] @ e[3] > e[1] @ e[0] - 0.2 and e[1] @ e[3] > 0.5


def test_embed_distinct_counts_and_reuse(embed):
    calls = []

    def counting(texts):
        calls.append(list(texts))
        return embed(texts)
    s = embed_distinct(["a", "b", "a", "a", "b", "c"], counting)
    assert s.report == {"n_total": 6, "n_unique": 3, "n_new": 3, "saving": 2.0}
    assert calls == [["a", "b", "c"]]
    s2 = embed_distinct(["c", "d", "d"], counting, known=s)
    assert calls[-1] == ["d"] and s2.report["n_new"] == 1
    np.testing.assert_array_equal(s2.vectors[s2.index["a"]], s.vectors[s.index["a"]])
    with pytest.raises(KeyError, match="not embedded"):
        s.rows(["zzz"])


def test_run_store_writes_once(tmp_path, embed):
    run = make_run_from_answers(tmp_path / "r", {"q1": ["Paris", "paris", "Lyon"], "q2": ["4", "4"]})
    s = run_store(run, embed)
    assert run.has("stats/embeddings.npy") and run.has("stats/embedding_texts.parquet")
    assert s.report["n_total"] == 7 and s.report["n_unique"] == 4   # greedy answers repeat samples

    def refuse(texts):
        raise AssertionError(f"re-embedded {texts}")
    again = run_store(run, refuse)
    assert again.report["n_new"] == 0 and len(load_store(run).texts) == 4
    assert run.array("stats/embeddings.npy").dtype == np.float16


def test_cosine_stack_and_padding():
    v = np.eye(3, dtype=np.float32)
    v[2] = [0.6, 0.8, 0]
    cos = cosine_stack(np.array([[0, 2, -1]]), v)
    assert cos.shape == (1, 3, 3)
    assert cos[0, 0, 1] == pytest.approx(0.6) and cos[0, 0, 2] == 0 and cos[0, 2, 2] == 1
    w = similarity_from("cosine", cos=np.array([[[1.0, -0.5], [-0.5, 1.0]]]))
    assert w[0, 0, 1] == pytest.approx(0.25)
    assert similarity_from("cosine_clip", cos=np.array([[[1.0, -0.5], [-0.5, 1.0]]]))[0, 0, 1] == 0
    with pytest.raises(ValueError, match="unknown similarity"):
        similarity_from("rouge", cos=cos)


def test_jaccard_hand_values_and_empty():
    texts = np.array([["The cat sat.", "cat sat down", "", ""]], dtype=object)
    j = jaccard_stack(texts, np.ones((1, 4), bool))
    assert j[0, 0, 1] == pytest.approx(2 / 3)      # {cat, sat} vs {cat, sat, down}
    assert j[0, 2, 3] == 1.0 and j[0, 0, 2] == 0.0
    np.testing.assert_array_equal(np.diagonal(j[0]), 1.0)
    assert normalise_text("The  Eiffel-Tower!") == "eiffel tower"


def test_transitive_merging_uses_representative():
    match = np.zeros((1, 3, 3), bool)
    match[0] = [[1, 1, 0], [1, 1, 1], [0, 1, 1]]       # a~b, b~c, not a~c
    ids = transitive_clusters(match, np.ones((1, 3), bool))
    assert ids.tolist() == [[0, 0, 1]]                 # c is compared with a (the representative)
    assert cluster_sizes(ids)[0, :2].tolist() == [2, 1]


def test_rules_cosine_exact_nli():
    mask = np.array([[True, True, True, False]])
    cos = np.array([[[1, .9, .2, 0], [.9, 1, .3, 0], [.2, .3, 1, 0], [0, 0, 0, 1]]], float)
    ids = transitive_clusters(match_matrix("cosine", mask, cos=cos, tau=0.85), mask)
    assert ids.tolist() == [[0, 0, 1, -1]]
    texts = np.array([["The Paris.", "paris", "Lyon", ""]], dtype=object)
    assert transitive_clusters(match_matrix("exact", mask, texts=texts), mask).tolist() == [[0, 0, 1, -1]]
    ent = np.full((1, 4, 4), 0.1)
    con = np.full((1, 4, 4), 0.8)
    ent[0, 0, 1] = ent[0, 1, 0] = 0.9
    con[0, 0, 1] = con[0, 1, 0] = 0.05
    ent[0, 1, 2], con[0, 1, 2] = 0.3, 0.1                # 1 -> 2 neutral, 2 -> 1 contradiction
    assert transitive_clusters(match_matrix("nli_strict", mask, ent=ent, con=con), mask).tolist() == [[0, 0, 1, -1]]
    with pytest.raises(ValueError, match="tau"):
        match_matrix("cosine", mask, cos=cos)
    with pytest.raises(ValueError, match="unknown clustering rule"):
        match_matrix("rouge", mask)
    with pytest.raises(ValueError, match="NLI"):
        match_matrix("nli_strict", mask)


def test_nli_stacks_dedupes_pairs_and_symmetrises():
    seen = []

    def fake_nli(pairs):      # deterministic stand-in: no NLI model ships with the project
        seen.extend(pairs)
        return np.array([[0.8 if a[0] == b[0] else 0.1, 0.1 if a[0] == b[0] else 0.7] for a, b in pairs])
    texts = np.array([["apple", "apricot", "apple", "berry"]], dtype=object)
    ent, con = nli_stacks(texts, np.ones((1, 4), bool), fake_nli)
    assert len(seen) == len(set(seen)) == 6                   # distinct ordered pairs of 3 strings
    assert ent[0, 0, 2] == 1.0 and con[0, 0, 2] == 0.0        # identical strings need no model call
    assert ent[0, 0, 1] == pytest.approx(0.8) and con[0, 0, 3] == pytest.approx(0.7)
    w = similarity_from("nli_nocontra", ent=ent, con=con)
    np.testing.assert_allclose(w[0], w[0].T)
    with pytest.raises(FileNotFoundError):
        NLIModel("/nonexistent/nli")([("a", "b")])


def test_clusters_frame_matches_counts():
    from uq_core.stats.clustering import clusters_frame
    df = clusters_frame(["q1", "q2"], "ref", "exact", None, np.array([[0, 1, 0], [0, -1, -1]]), np.array([3, 1]))
    assert df["cluster_ids"].tolist() == [[0, 1, 0], [0]] and math.isnan(df["tau"].iloc[0])
    assert isinstance(df, pd.DataFrame)
