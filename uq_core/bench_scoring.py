"""Benchmark: vectorised scoring of every method vs a straightforward per-question reference.

The reference implementation loops over questions in Python, computes each similarity pair by
pair, clusters answer by answer and calls ``np.linalg.eigh`` once per question. Both run in the
same process on the same synthetic inputs (uq_core.synthetic) and must agree numerically.
Run: ``python -m uq_core.bench_scoring [n_questions] [m]``.
"""
from __future__ import annotations

import math
import sys
import tempfile
import time
from collections import Counter

import numpy as np
from scipy.special import logsumexp

from .methods import REGISTRY, ScoreConfig, ScoreInputs, build_inputs, score
from .methods.hidden import cross_fitted_probe, probe_layer_index
from .stats.similarity import normalise_text

NAN = float("nan")


def _tokens(s: str) -> set:
    return set(normalise_text(s).split())


def _pair_sim(kind: str, cos: float, a: str, b: str) -> float:
    if kind == "cosine":
        return (cos + 1.0) / 2.0
    if kind == "cosine_clip":
        return max(cos, 0.0)
    ta, tb = _tokens(a), _tokens(b)
    return len(ta & tb) / len(ta | tb) if (ta | tb) else 1.0


def _token_scores(inp: ScoreInputs, q: int) -> dict:
    lp = [x for x in inp.greedy_lp[q] if math.isfinite(x)]
    ents = []
    for tok in inp.greedy_top[q]:
        t = [x for x in tok if math.isfinite(x)]
        if t:
            mx = max(t)
            z = sum(math.exp(x - mx) for x in t)
            ents.append(-sum((math.exp(x - mx) / z) * math.log(math.exp(x - mx) / z) for x in t))
    per = [inp.sample_lp_sum[q, j] / inp.sample_len[q, j] for j in range(inp.counts[q])
           if inp.sample_len[q, j] > 0 and math.isfinite(inp.sample_lp_sum[q, j])]
    return {"msp": -sum(lp) if lp else NAN, "perplexity": math.exp(-sum(lp) / len(lp)) if lp else NAN,
            "mean_token_entropy": sum(ents) / len(ents) if ents else NAN,
            "predictive_entropy": -sum(per) / len(per) if per else NAN}


def _sample_scores(inp: ScoreInputs, q: int, cfg: ScoreConfig) -> dict:
    c = int(inp.counts[q])
    names = ("num_sets", "lexical_similarity", "semantic_entropy", "semantic_entropy_rb", "embedding_dispersion",
             "eigv", "degree", "eccentricity")
    if c < 2:
        return dict.fromkeys(names, NAN)
    texts = [str(t) for t in inp.sample_text[q, :c]]
    E = inp.vectors[inp.sample_rows[q, :c]].astype(np.float64)
    E = E / np.linalg.norm(E, axis=1, keepdims=True)   # stored embeddings are float16: renormalise, as scoring does
    cos = [[min(max(float(np.dot(E[i], E[j])), -1.0), 1.0) for j in range(c)] for i in range(c)]
    norm = [normalise_text(t) for t in texts]

    def same(i, j):
        return cos[i][j] >= cfg.tau if cfg.rule == "cosine" else norm[i] == norm[j]
    reps, ids = [], []
    for j in range(c):
        for k, r in enumerate(reps):
            if same(j, r):
                ids.append(k)
                break
        else:
            reps.append(j)
            ids.append(len(reps) - 1)
    sizes = Counter(ids)
    se = -sum(n / c * math.log(n / c) for n in sizes.values())
    valid = [j for j in range(c) if inp.sample_len[q, j] > 0 and math.isfinite(inp.sample_lp_sum[q, j])]
    rb = NAN
    if valid:
        ls = {j: inp.sample_lp_sum[q, j] / inp.sample_len[q, j] for j in valid}
        tot = logsumexp([ls[j] for j in valid])
        rb = 0.0
        for k in set(ids[j] for j in valid):
            p = math.exp(logsumexp([ls[j] for j in valid if ids[j] == k]) - tot)
            rb -= p * math.log(p) if p > 0 else 0.0
    jac = [_pair_sim("jaccard", 0.0, texts[i], texts[j]) for i in range(c) for j in range(i + 1, c)]
    cen = E.mean(axis=0)
    W = np.array([[1.0 if i == j else _pair_sim(cfg.similarity, cos[i][j], texts[i], texts[j]) for j in range(c)]
                  for i in range(c)])
    d = W.sum(axis=1)
    vals, vecs = np.linalg.eigh(np.eye(c) - W / np.sqrt(np.outer(d, d)))
    U = vecs[:, vals < cfg.eig_threshold]
    if cfg.eccentricity_variant == "row_centred":
        dist = [np.linalg.norm(u - u.mean()) for u in U]
    else:
        dist = [np.linalg.norm(u - U.mean(axis=0)) for u in U]
    ecc = sum(dist) if cfg.eccentricity_variant == "l1" else float(np.linalg.norm(dist))
    return {"num_sets": float(len(reps)), "lexical_similarity": 1.0 - sum(jac) / len(jac), "semantic_entropy": se,
            "semantic_entropy_rb": rb, "embedding_dispersion": float(np.mean([np.linalg.norm(e - cen) for e in E])),
            "eigv": sum(max(0.0, 1.0 - v) for v in vals), "degree": (c * c - W.sum()) / (c * c), "eccentricity": ecc}


def reference_scores(inp: ScoreInputs, cfg: ScoreConfig) -> dict[str, np.ndarray]:
    """Per-question loop implementation of every method (the probe reuses the shared cross-fitting)."""
    rows = [{**_token_scores(inp, q), **_sample_scores(inp, q, cfg)} for q in range(inp.n_q)]
    out = {k: np.array([r[k] for r in rows], dtype=np.float64) for k in rows[0]}
    out["p_true"] = np.array([1.0 - p for p in inp.p_true])
    out["verbalized"] = np.array([1.0 - min(max(v, 0.0), 100.0) / 100.0 for v in inp.verbalized])
    if inp.hidden is not None:
        li = probe_layer_index(list(inp.hidden_layers), cfg.probe_layer)
        out["hidden_probe"] = 1.0 - cross_fitted_probe(inp.hidden[:, li, :].astype(np.float64), inp.labels,
                                                       cfg.probe_folds, cfg.seed)
    return out


def compare_scores(vec: dict, ref: dict, rtol: float = 1e-6, atol: float = 1e-8) -> dict[str, float]:
    """Max absolute difference per method; raises AssertionError naming any method that disagrees."""
    diffs = {}
    for name, r in ref.items():
        v = np.asarray(vec[name], dtype=np.float64)
        if not np.array_equal(np.isnan(v), np.isnan(r)):
            raise AssertionError(f"{name}: NaN pattern differs between vectorised and reference")
        ok = ~np.isnan(r)
        diffs[name] = float(np.max(np.abs(v[ok] - r[ok]), initial=0.0))
        if not np.allclose(v[ok], r[ok], rtol=rtol, atol=atol):
            raise AssertionError(f"{name}: vectorised and reference differ by up to {diffs[name]:.3g}")
    return diffs


def run_bench(n_questions: int = 1000, m: int = 20, seed: int = 0, config: ScoreConfig | None = None) -> dict:
    """Time scoring ALL methods vectorised vs the reference loop on synthetic inputs; check agreement."""
    from .synthetic import make_synthetic_run

    config = config or ScoreConfig()
    import sklearn.linear_model  # noqa: F401  (import cost kept out of both timings)
    import sklearn.model_selection  # noqa: F401
    with tempfile.TemporaryDirectory() as d:
        run = make_synthetic_run(f"{d}/bench", n_questions, m, seed)
        t0 = time.perf_counter()
        inp = build_inputs(run)
        t_build = time.perf_counter() - t0
    inp.cache = {}
    t0 = time.perf_counter()
    res = score(inp, config)
    t_vec = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = reference_scores(inp, config)
    t_ref = time.perf_counter() - t0
    inp.cache = {}
    t0 = time.perf_counter()
    score(inp, config, [n for n in REGISTRY if n != "hidden_probe"])
    t_vec_np = time.perf_counter() - t0
    t0 = time.perf_counter()
    score(inp, config, ["hidden_probe"])
    t_probe = time.perf_counter() - t0
    diffs = compare_scores({k: res.scores[k].to_numpy() for k in REGISTRY}, ref)
    out = {"n_questions": n_questions, "m": m, "n_methods": len(REGISTRY), "build_inputs_s": round(t_build, 3),
           "vectorised_s": round(t_vec, 3), "reference_s": round(t_ref, 3), "speedup": round(t_ref / t_vec, 2),
           "vectorised_without_probe_s": round(t_vec_np, 3), "probe_s": round(t_probe, 3),
           "speedup_without_probe": round(max(t_ref - t_probe, 1e-9) / t_vec_np, 2),
           "max_abs_diff": diffs, "available": {k: v[0] for k, v in res.availability.items()}}
    print(f"scoring {len(REGISTRY)} methods, {n_questions} questions x {m} samples: build_inputs "
          f"{t_build:.2f} s, vectorised {t_vec:.2f} s, per-question reference {t_ref:.2f} s, "
          f"ratio {t_ref / t_vec:.1f}x (without the shared probe fit {t_probe:.2f} s: "
          f"{t_vec_np:.2f} s vs {t_ref - t_probe:.2f} s, {(t_ref - t_probe) / t_vec_np:.1f}x); "
          f"max |diff| {max(diffs.values()):.2e}")
    return out


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    run_bench(*args)
