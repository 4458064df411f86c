"""The shipped demo run: schema, counts, size, and scores recomputed from its stored generations."""
from __future__ import annotations

import numpy as np
import pytest

from uq_core import store
from uq_core.schema import REF_SETTING, questions_from_frame

DEMO = store.DEMO_RUN


@pytest.fixture(scope="module")
def demo():
    assert (DEMO / "manifest.json").exists(), "the bundled demo run is missing: run `make demo-run`"
    return store.Run.open(DEMO)


def test_schema_counts_and_size(demo):
    assert demo.check() == []
    q = demo.table("questions")
    assert len(q) >= 500
    assert set(q["dataset"]) == {"capitals", "arithmetic", "nq_open", "svamp", "gsm8k", "humaneval"}
    gen = demo.table("generations")
    ref = gen[gen["setting"] == REF_SETTING]
    assert (ref["kind"] == "greedy").sum() == len(q)
    assert ref[ref["kind"] == "sample"].groupby("question_id").size().min() >= 10
    sweeps = {s for s in gen["setting"].unique() if s != REF_SETTING}
    assert {"temperature=0.3", "temperature=0.7", "temperature=1.5"} <= sweeps
    assert len([s for s in sweeps if s.startswith("template=")]) >= 2
    for s in ("temperature=0.3", "temperature=0.7", "temperature=1.5"):
        assert gen[gen["setting"] == s]["question_id"].nunique() >= 150
    ver = demo.table("verification")
    assert len(ver) == len(gen)
    assert demo.array("hidden/greedy_last.npy").shape[:2] == (len(q), 3)
    assert demo.array("hidden/samples_last.npy").shape[:2] == (len(q), 10)
    size = sum(p.stat().st_size for p in DEMO.rglob("*") if p.is_file())
    assert size < 40 * 1024 * 1024, f"demo run is {size / 2**20:.1f} MB"
    for rel in ("analyses/evaluation.json", "analyses/overlap.json", "analyses/geometry.json",
                "analyses/umap.parquet", "analyses/fragility.json", "analyses/conformal.json",
                "analyses/judge.json", "scores.parquet", "stats/clusters.parquet"):
        assert demo.has(rel), rel


def test_stored_labels_match_the_verifiers(demo):
    from uq_core.verify import verify
    qs = {x.id: x for x in questions_from_frame(demo.table("questions"))}
    gen = demo.table("generations").merge(demo.table("verification"), on=["question_id", "setting", "kind", "index"])
    cheap = gen[gen["question_id"].map(lambda i: qs[i].verifier != "unit_test")]
    rows = cheap.sample(300, random_state=0)
    for r in rows.itertuples():
        assert verify(qs[r.question_id], r.text)[0] == r.label, (r.question_id, r.text)


def test_scores_recompute_from_stored_generations(demo):
    from uq_core.methods import ScoreConfig, build_inputs, score
    stored = store.read_table(DEMO / "scores.parquet")
    stored = stored[stored["setting"] == REF_SETTING].set_index("question_id")
    inputs = build_inputs(demo, REF_SETTING)
    names = ["msp", "perplexity", "predictive_entropy", "num_sets", "semantic_entropy", "semantic_entropy_rb",
             "eigv", "degree", "p_true", "verbalized"]
    fresh = score(inputs, ScoreConfig(seed=int(demo.manifest["seed"])), methods=names).scores
    for name in names:
        a = fresh[name].reindex(stored.index).to_numpy(float)
        b = stored[name].to_numpy(float)
        assert np.array_equal(np.isnan(a), np.isnan(b)), name
        np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=1e-6, atol=1e-9, err_msg=name)
