"""Command line: ``python -m uq_core {datasets,run,score,analyze,judge,summary,report,bench}``."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _csv(s: str | None) -> list[str]:
    return [x.strip() for x in (s or "").split(",") if x.strip()]


def _progress():
    from tqdm import tqdm
    bars: dict[str, tqdm] = {}

    def cb(stage: str, done: int, total: int, eta):
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=f"{stage:>14}", unit="q", file=sys.stderr)
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
    return cb


def cmd_datasets(a) -> int:
    from . import datasets
    rows = datasets.describe()
    print(json.dumps(rows, indent=2) if a.json else datasets.format_table(rows))
    return 0


def cmd_run(a) -> int:
    from .pipeline import run_pipeline
    cfg = {"model": a.model, "datasets": _csv(a.datasets) or None, "limit": a.limit, "upload": a.data,
           "samples": a.samples, "temperature": a.temperature, "top_p": a.top_p, "seed": a.seed,
           "max_new_tokens": a.max_new_tokens, "temperatures": [float(t) for t in _csv(a.temperatures)],
           "templates": _csv(a.templates), "sweep_limit": a.sweep_limit,
           "sweep_datasets": _csv(a.sweep_datasets) or None, "sweep_samples": a.sweep_samples,
           "device": a.device, "base_url": a.base_url or os.environ.get("OPENAI_BASE_URL"),
           "batch_rows": a.batch_rows, "judge": a.judge, "score": not a.no_score, "analyze": not a.no_analyze}
    if a.counts:
        cfg["dataset_counts"] = {k: int(v) for k, v in (p.split("=") for p in _csv(a.counts))}
        cfg["datasets"] = list(cfg["dataset_counts"])
    if a.layers:
        cfg["layers"] = [int(x) for x in _csv(a.layers)]
    t0 = time.perf_counter()
    run = run_pipeline(cfg, Path(a.out), progress=_progress(), resume=a.resume)
    print(f"run written to {run.path} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


def cmd_score(a) -> int:
    from . import store
    from .evaluate import evaluate_run
    from .methods import ScoreConfig, compute_and_store
    run = store.Run.open(a.run)
    cfg = ScoreConfig(rule=a.rule, tau=a.tau, seed=run.manifest.get("seed", 0))
    t0 = time.perf_counter()
    res = compute_and_store(run, cfg)
    evaluate_run(run)
    run.set_stage("score", "done", seconds=round(time.perf_counter() - t0, 1), rule=a.rule, tau=a.tau)
    print(f"scored {len(res.scores)} rows x {res.scores.shape[1]} methods in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    return 0


def cmd_analyze(a) -> int:
    from . import store
    from .pipeline import analyze_run
    run = store.Run.open(a.run)
    t0 = time.perf_counter()
    analyze_run(run, progress=_progress())
    print(f"analyses written to {run.path / 'analyses'} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return 0


def cmd_judge(a) -> int:
    from . import store
    from .analyses.judge import judge_run
    from .pipeline import DEFAULTS, load_backend, stage_judge
    run = store.Run.open(a.run)
    backend = load_backend({**DEFAULTS, **run.manifest["config"], "model": a.model or run.manifest["model"],
                            "base_url": a.base_url or os.environ.get("OPENAI_BASE_URL")})
    stage_judge(run, backend, _progress())
    print(json.dumps(judge_run(run), indent=2))
    return 0


def cmd_summary(a) -> int:
    from . import store
    from .summary import summarize
    s = summarize(store.Run.open(a.run))
    print(json.dumps(s, indent=2 if a.json else 1, default=str))
    return 0


def cmd_report(a) -> int:
    from . import store
    from .report import build_report
    run = store.Run.open(a.run)
    out = Path(a.out or (run.path / "report.html"))
    from .store import atomic_path
    with atomic_path(out) as tmp:
        tmp.write_text(build_report(run), encoding="utf-8")
    print(f"report written to {out}", file=sys.stderr)
    return 0


def cmd_bench(a) -> int:
    from .bench import main as bench_main
    return bench_main(a.parts, a.out)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m uq_core", description="UQ Lens: uncertainty vs truth for LLMs")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("datasets", help="list the bundled question sets")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_datasets)
    s = sub.add_parser("run", help="generate, verify, score and analyse")
    s.add_argument("--model", default="smollm2-135m", help="smollm2-135m | hf:PATH | openai:MODEL")
    s.add_argument("--datasets", default="capitals,arithmetic")
    s.add_argument("--counts", help="custom mix, e.g. capitals=150,arithmetic=120")
    s.add_argument("--data", help="your own CSV/JSONL file instead of bundled sets")
    s.add_argument("--limit", type=int, default=8)
    s.add_argument("--samples", type=int, default=5)
    s.add_argument("--temperature", type=float, default=1.0)
    s.add_argument("--top-p", type=float, default=1.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--max-new-tokens", type=int)
    s.add_argument("--temperatures", help="sweep generations, e.g. 0.3,0.7,1.0,1.5")
    s.add_argument("--templates", help="sweep prompt templates, e.g. qa_terse,qa_quiz")
    s.add_argument("--sweep-limit", type=int, help="questions in the sweep subset")
    s.add_argument("--sweep-samples", type=int, default=5)
    s.add_argument("--sweep-datasets", help="draw the sweep subset only from these sets")
    s.add_argument("--layers", help="hidden-state layers for greedy answers, e.g. 15,22,29")
    s.add_argument("--device", default="auto")
    s.add_argument("--base-url", help="OpenAI-compatible server (or OPENAI_BASE_URL); key from OPENAI_API_KEY")
    s.add_argument("--batch-rows", type=int, default=64)
    s.add_argument("--judge", action="store_true", help="also label greedy answers with the model as judge")
    s.add_argument("--no-score", action="store_true")
    s.add_argument("--no-analyze", action="store_true")
    s.add_argument("--resume", action="store_true")
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_run)
    s = sub.add_parser("score", help="recompute statistics, scores and evaluation (no LLM)")
    s.add_argument("run")
    s.add_argument("--rule", default="cosine")
    s.add_argument("--tau", type=float, default=0.85)
    s.set_defaults(fn=cmd_score)
    s = sub.add_parser("analyze", help="recompute every analysis (no LLM)")
    s.add_argument("run")
    s.set_defaults(fn=cmd_analyze)
    s = sub.add_parser("judge", help="label greedy answers with a model judge")
    s.add_argument("run")
    s.add_argument("--model")
    s.add_argument("--base-url")
    s.set_defaults(fn=cmd_judge)
    s = sub.add_parser("summary", help="print a run's summary")
    s.add_argument("run")
    s.add_argument("--json", action="store_true")
    s.set_defaults(fn=cmd_summary)
    s = sub.add_parser("report", help="export the standalone HTML report")
    s.add_argument("run")
    s.add_argument("--out")
    s.set_defaults(fn=cmd_report)
    s = sub.add_parser("bench", help="benchmarks, each against a baseline in the same process")
    s.add_argument("parts", nargs="*", help="subset: sampling load embedding scoring umap pages memory")
    s.add_argument("--out", default="bench_results/bench.json")
    s.set_defaults(fn=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = build_parser().parse_args(argv)
    from .datasets.errors import DatasetError
    from .generate.base import BackendError
    from .pipeline import PipelineError
    from .store import RunError
    try:
        return args.fn(args)
    except (PipelineError, RunError, DatasetError, BackendError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished work is saved (use --resume)", file=sys.stderr)
        return 130
