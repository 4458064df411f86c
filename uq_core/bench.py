"""``python -m uq_core bench``: every speed target measured against a baseline run in the same process.

Machines here are noisy, so each figure is printed next to its baseline and as a ratio; nothing is asserted.
Parts: sampling, load, embedding, scoring, umap, pages, memory.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import store

ALL_PARTS = ["load", "sampling", "embedding", "scoring", "umap", "pages", "memory"]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def bench_questions(n: int = 32, seed: int = 0):
    from . import datasets
    return datasets.load(["capitals", "arithmetic", "nq_open"], limit=n, seed=seed)


def peak_flops(n: int = 2048, reps: int = 5) -> float:
    """FLOP/s of a large float32 matmul on this machine, now (the practical peak)."""
    import torch
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t, _ = _timed(lambda: [a @ b for _ in range(reps)])
    return 2 * n ** 3 * reps / t


def baseline_generate(backend, req) -> dict:
    """The straightforward loop: generate(num_return_sequences=m) per question, a greedy generate, then a separate
    forward pass over each answer for hidden states and log-probs."""
    import torch
    model, tok = backend.model, backend.tokenizer
    ids = torch.tensor([backend.encode(req.messages)])
    stop = sorted(backend._stop_ids)
    with torch.inference_mode():
        g = model.generate(ids, do_sample=False, max_new_tokens=req.max_new_tokens, eos_token_id=stop,
                           pad_token_id=tok.pad_token_id or 0)
        s = model.generate(ids, do_sample=True, temperature=req.temperature, top_p=req.top_p,
                           num_return_sequences=req.n_samples, max_new_tokens=req.max_new_tokens,
                           eos_token_id=stop, pad_token_id=tok.pad_token_id or 0)
        seqs = [g[0]] + list(s)
        n_new = 0
        for seq in seqs:
            ans = seq[ids.shape[1]:]
            ans = ans[~torch.isin(ans, torch.tensor(stop + [tok.pad_token_id or 0]))]
            n_new += len(ans)
            model(torch.cat([ids[0], ans]).unsqueeze(0), output_hidden_states=True)
    text = tok.decode(g[0][ids.shape[1]:], skip_special_tokens=True).strip()
    return {"greedy": text, "tokens": n_new}


def part_sampling(n_questions: int = 32, m: int = 5, max_new: int = 24) -> dict:
    import copy
    from .generate import prompts
    from .generate.base import GenRequest
    from .generate.local import LocalBackend
    backend = LocalBackend.load("smollm2-135m")
    qs = bench_questions(n_questions)
    reqs = [GenRequest(q.id, prompts.answer_messages(q, prompts.default_template(q)), n_samples=m, temperature=1.0,
                       max_new_tokens=max_new, stop_newline=False, seed=0) for q in qs]
    backend.generate(copy.deepcopy(reqs[:2]))  # warm-up
    t_b, res = _timed(lambda: backend.generate(reqs))
    tok_b = sum(r.greedy.n_tokens + sum(s.n_tokens for s in r.samples) for r in res)
    t_l, base = _timed(lambda: [baseline_generate(backend, r) for r in reqs])
    tok_l = sum(b["tokens"] for b in base)
    same = [r.greedy.text == b["greedy"] for r, b in zip(res, base)]
    n_params = sum(p.numel() for p in backend.model.parameters())
    prompt_tokens = sum(len(backend.encode(r.messages)) * (1 + m) for r in reqs)
    achieved = 2 * n_params * (tok_b + prompt_tokens) / t_b
    peak = peak_flops()
    return {"questions": n_questions, "samples": m, "max_new_tokens": max_new,
            "batched_s": round(t_b, 2), "batched_tok_s": round(tok_b / t_b, 1),
            "loop_s": round(t_l, 2), "loop_tok_s": round(tok_l / t_l, 1),
            "speedup": round((tok_b / t_b) / (tok_l / t_l), 2),
            "greedy_same": f"{sum(same)}/{len(same)}",
            "greedy_differs": [q.id for q, s in zip(qs, same) if not s],
            "achieved_gflops": round(achieved / 1e9, 2), "peak_gflops": round(peak / 1e9, 2),
            "fraction_of_peak": round(achieved / peak, 3)}


def part_load() -> dict:
    """Cold (GGUF de-quantisation) vs cached (safetensors) load, in fresh subprocesses."""
    code = ("import time,json;t=time.perf_counter();from uq_core.generate.local import load_model;"
            "m,t_,i=load_model('smollm2-135m',use_cache={c});print(json.dumps({{'s':time.perf_counter()-t,**i}}))")
    def once(use_cache: bool) -> dict:
        out = subprocess.run([sys.executable, "-c", code.format(c=use_cache)], capture_output=True, text=True,
                             cwd=store.REPO_ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"}, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    once(True)  # make sure the cache exists
    cold, cached = once(False), once(True)
    return {"cold_load_s": cold["load_s"], "cached_load_s": cached["load_s"],
            "speedup": round(cold["load_s"] / cached["load_s"], 2),
            "cold_process_s": round(cold["s"], 2), "cached_process_s": round(cached["s"], 2),
            "note": "load_s = model + tokenizer load after the libraries are imported; process_s adds importing "
                    "torch/transformers"}


def _real_answers() -> list[str]:
    run = store.DEMO_RUN if store.DEMO_RUN.exists() else None
    if run is None:
        raise RuntimeError("the embedding benchmark reads real answers from the demo run (assets/runs/demo)")
    gen = store.Run.open(run).table("generations")
    return list(gen["text"])


def part_embedding() -> dict:
    from .stats.embeddings import Embedder
    texts = _real_answers()
    emb = Embedder()
    emb(texts[:64])  # warm-up
    uniq = sorted(set(texts), key=len)
    t_u, _ = _timed(lambda: emb(uniq))
    t_a, _ = _timed(lambda: emb(texts))
    return {"answers": len(texts), "distinct": len(uniq), "dedup_s": round(t_u, 2), "all_s": round(t_a, 2),
            "speedup": round(t_a / t_u, 2), "answers_per_s_dedup": round(len(texts) / t_u, 1),
            "answers_per_s_all": round(len(texts) / t_a, 1)}


def part_scoring() -> dict:
    from .bench_scoring import run_bench
    return run_bench(n_questions=1000, m=20, seed=0)


def part_umap(n: int = 10_000, dim: int = 576) -> dict:
    from .analyses.geometry import project
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, dim)) * 3
    X = (centres[rng.integers(0, 8, n)] + rng.normal(size=(n, dim))).astype(np.float32)
    t_small, _ = _timed(lambda: project(X[:1000], seed=0))
    t_cold, _ = _timed(lambda: project(X, seed=0))   # first large call also JIT-compiles nearest-neighbour descent
    t, _ = _timed(lambda: project(X, seed=0))
    return {"points": n, "dims": dim, "seconds_warm": round(t, 2), "seconds_first_call": round(t_cold, 2),
            "baseline_1000_points_first_call_s": round(t_small, 2), "target_s": 30,
            "settings": "z-score, PCA to 50, UMAP n_neighbors=15, min_dist=0.1, n_epochs=200, seeded"}


def part_pages() -> dict:
    """Cold and warm AppTest render of every page on the demo run (in a subprocess: uq_core never imports
    Streamlit). The cold render is the in-process baseline."""
    if not store.DEMO_RUN.exists():
        raise RuntimeError("the page benchmark renders the demo run (assets/runs/demo)")
    out = subprocess.run([sys.executable, str(store.REPO_ROOT / "bench" / "pages.py"), str(store.DEMO_RUN),
                          "--json"], capture_output=True, text=True, cwd=store.REPO_ROOT, check=True)
    pages = json.loads(out.stdout.strip().splitlines()[-1])
    return {**pages, "slowest_warm_s": max(v["warm"] for v in pages.values()), "target_s": 1.5}


def part_memory(n_questions: int = 100) -> dict:
    """Peak RSS of a 100-question run (generate, verify, self-evaluate, score) in a child process."""
    with tempfile.TemporaryDirectory() as d:
        cmd = [sys.executable, "-m", "uq_core", "run", "--datasets", "capitals,arithmetic,nq_open",
               "--limit", str(n_questions), "--samples", "5", "--out", str(Path(d) / "mem"), "--no-analyze"]
        t, proc = _timed(lambda: subprocess.run(cmd, capture_output=True, text=True, cwd=store.REPO_ROOT,
                                                env={**os.environ, "HF_HUB_OFFLINE": "1"}))
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-2000:])
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"questions": n_questions, "samples": 5, "seconds": round(t, 1), "peak_rss_mb": round(peak_kb / 1024, 1),
            "target_mb": 4096}


PARTS: dict[str, Callable[[], dict]] = {"load": part_load, "sampling": part_sampling, "embedding": part_embedding,
                                        "scoring": part_scoring, "umap": part_umap, "pages": part_pages,
                                        "memory": part_memory}


def main(parts: list[str] | None = None, out: str = "bench_results/bench.json") -> int:
    parts = parts or ALL_PARTS
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        print(f"unknown part(s) {unknown}; choose from {ALL_PARTS}", file=sys.stderr)
        return 2
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}, "parts": {}}
    for p in parts:
        print(f"== {p}", file=sys.stderr, flush=True)
        try:
            results["parts"][p] = PARTS[p]()
        except Exception as e:  # one failing part must not hide the others
            results["parts"][p] = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(results["parts"][p], indent=1, default=str), flush=True)
    store.write_json(Path(out), results)
    print(f"written to {out}", file=sys.stderr)
    return 0
