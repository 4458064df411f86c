"""The run pipeline: questions -> generate -> verify -> self-evaluate -> score -> analyse.

Every stage reads and writes the run directory. Generation writes one Parquet part (and one hidden-state part)
per chunk of questions as it goes, atomically, so a killed run resumes with ``--resume`` and loses at most the
chunk in flight. Parts are consolidated into ``generations.parquet`` and ``hidden/`` once every chunk is done.
"""
from __future__ import annotations

import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from . import store
from .generate.base import Backend, BackendError
from .generate.plan import pack, plan_jobs, request_for, rows_for
from .generate import prompts
from .schema import (GENERATION_COLUMNS, REF_SETTING, SELF_EVAL_COLUMNS, VERIFICATION_COLUMNS, Question,
                     questions_from_frame, questions_to_frame)

Progress = Callable[[str, int, int, "float | None"], None]

DEFAULTS: dict[str, Any] = {
    "model": "smollm2-135m", "datasets": ["capitals", "arithmetic"], "limit": 8, "dataset_counts": None,
    "upload": None, "samples": 5, "temperature": 1.0, "top_p": 1.0, "seed": 0, "max_new_tokens": None,
    "temperatures": [], "templates": [], "sweep_limit": None, "sweep_samples": 5, "device": "auto",
    "base_url": None, "layers": None, "sample_layer": None, "batch_rows": 64, "self_eval": True,
    "score": True, "analyze": True, "judge": False, "verify_workers": 2, "dtype": "float32",
    "sweep_datasets": None,
}
SECRET_KEYS = {"api_key"}


class PipelineError(Exception):
    """A stage failed; the message says which and why. Everything written so far is kept."""


def _noop(stage: str, done: int, total: int, eta: float | None) -> None:
    pass


def make_config(**overrides: Any) -> dict[str, Any]:
    unknown = set(overrides) - set(DEFAULTS) - SECRET_KEYS
    if unknown:
        raise PipelineError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    cfg = {**DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}
    if int(cfg["samples"]) < 1:
        raise PipelineError("samples must be at least 1")
    if not 0 < float(cfg["top_p"]) <= 1:
        raise PipelineError("top_p must be in (0, 1]")
    if float(cfg["temperature"]) <= 0:
        raise PipelineError("temperature must be > 0 for sampling (the greedy answer is always generated)")
    for t in cfg["templates"]:
        prompts.get_template(t)
    return cfg


def public_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The config as stored in the manifest: never any secret."""
    return {k: v for k, v in cfg.items() if k not in SECRET_KEYS}


def load_backend(cfg: dict[str, Any], api_key: str | None = None) -> Backend:
    model = cfg["model"]
    if model.startswith("openai:"):
        from .generate.openai_compat import OpenAIBackend
        return OpenAIBackend(model[len("openai:"):], base_url=cfg.get("base_url"), api_key=api_key)
    from .generate.local import LocalBackend
    return LocalBackend.load(model, device=cfg["device"], dtype=cfg["dtype"], layers=cfg["layers"],
                             sample_layer=cfg["sample_layer"], max_batch_rows=int(cfg["batch_rows"]))


def load_questions(cfg: dict[str, Any]) -> list[Question]:
    if cfg.get("upload"):
        from .datasets.upload import parse_user_file
        path = Path(cfg["upload"])
        qs = parse_user_file(path.read_bytes(), path.name)
        return qs[: cfg["limit"]] if cfg.get("limit") else qs
    from . import datasets
    limit = cfg.get("dataset_counts") or cfg.get("limit")
    return datasets.load(list(cfg["datasets"]), limit=limit, seed=int(cfg["seed"]))


# -- stages --------------------------------------------------------------------------------
def stage_generate(run: store.Run, backend: Backend, cfg: dict[str, Any], progress: Progress) -> None:
    questions = questions_from_frame(run.table("questions"))
    jobs = plan_jobs(questions, cfg)
    parts = run.path / "parts"
    parts.mkdir(exist_ok=True)
    for stale in parts.glob(".*.tmp"):   # a write that a killed process never finished
        stale.unlink()
    done: set[tuple[str, str]] = set()
    for p in sorted(parts.glob("gen_*.parquet")):
        try:
            df = pd.read_parquet(p, columns=["setting", "question_id"])
        except Exception:
            p.unlink()   # a part that cannot be read is regenerated (parts are written atomically)
            continue
        done.update(zip(df["setting"], df["question_id"]))
    pending = [j for j in jobs if (j.setting, j.question.id) not in done]
    run.set_stage("generate", "running", total=len(jobs), done_before=len(jobs) - len(pending))
    pending.sort(key=lambda j: (j.template.max_new_tokens, j.setting != REF_SETTING, len(j.question.text)))
    n_done, t0 = len(jobs) - len(pending), time.perf_counter()
    progress("generate", n_done, len(jobs), None)
    tags = [int(p.stem.split("_")[1]) for p in parts.glob("*_*.*") if p.stem.split("_")[1].isdigit()]
    next_part = max(tags, default=-1) + 1   # never reuse a tag: an existing part is never overwritten
    for chunk in pack(pending, int(cfg["batch_rows"])):
        try:
            results = backend.generate([request_for(j, cfg) for j in chunk])
        except BackendError as e:
            run.set_stage("generate", "failed", error=str(e), done=n_done, total=len(jobs))
            raise PipelineError(f"generation stopped: {e}. {n_done} of {len(jobs)} question jobs are saved; "
                                f"re-run with --resume to continue.") from None
        rows = [r for j, res in zip(chunk, results) for r in rows_for(j, res, cfg)]
        tag = f"{next_part:05d}"
        hid = {j.question.id: res for j, res in zip(chunk, results)
               if j.setting == REF_SETTING and res.greedy_hidden_last is not None}
        if hid:  # hidden part first: a generation part is only "done" once its hidden states are on disk
            arrays = {"question_ids": np.array(list(hid)),
                      "greedy_last": np.stack([r.greedy_hidden_last for r in hid.values()]),
                      "greedy_mean": np.stack([r.greedy_hidden_mean for r in hid.values()])}
            if all(r.samples_hidden_last is not None for r in hid.values()):
                arrays["samples_last"] = np.stack([r.samples_hidden_last for r in hid.values()])
            with store.atomic_path(parts / f"hid_{tag}.npz") as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, **arrays)
        store.write_table(parts / f"gen_{tag}.parquet", pd.DataFrame(rows, columns=GENERATION_COLUMNS))
        next_part += 1
        n_done += len(chunk)
        rate = (n_done - (len(jobs) - len(pending))) / max(time.perf_counter() - t0, 1e-9)
        progress("generate", n_done, len(jobs), (len(jobs) - n_done) / rate if rate > 0 else None)
    _consolidate(run, questions, backend)
    run.set_stage("generate", "done", total=len(jobs), reused_from_disk=len(jobs) - len(pending),
                  generated_now=len(pending), seconds=round(time.perf_counter() - t0, 1))


def _consolidate(run: store.Run, questions: list[Question], backend: Backend) -> None:
    parts = run.path / "parts"
    gen = pd.concat([pd.read_parquet(p) for p in sorted(parts.glob("gen_*.parquet"))], ignore_index=True)
    ref_greedy = gen[(gen["setting"] == REF_SETTING) & (gen["kind"] == "greedy")].set_index("question_id")
    reused = []
    for setting in sorted(s for s in gen["setting"].unique() if s.startswith("temperature=")):
        ids = gen.loc[gen["setting"] == setting, "question_id"].unique()
        rows = ref_greedy.loc[[i for i in ids if i in ref_greedy.index]].reset_index()
        reused.append(rows.assign(setting=setting))
    gen = pd.concat([gen, *reused], ignore_index=True)
    gen = gen.drop_duplicates(subset=["question_id", "setting", "kind", "index"], keep="first")
    order = {q.id: i for i, q in enumerate(questions)}
    gen = gen.assign(_o=gen["question_id"].map(order)).sort_values(["setting", "_o", "kind", "index"])
    hid: dict[str, dict[str, np.ndarray]] = {}
    for p in sorted(parts.glob("hid_*.npz")):
        with np.load(p, allow_pickle=False) as z:
            for i, qid in enumerate(z["question_ids"]):
                hid[str(qid)] = {k: z[k][i] for k in z.files if k != "question_ids"}
    if hid:
        ids = [q.id for q in questions if q.id in hid]
        for key in ("greedy_last", "greedy_mean", "samples_last"):
            if all(key in hid[i] for i in ids):
                run.write_array(f"hidden/{key}.npy", np.stack([hid[i][key] for i in ids]).astype(np.float16))
        run.write_json("hidden/index.json", {"question_ids": ids, "layers": list(backend.layers),
                                             "sample_layer": backend.sample_layer, "source": "hidden_states"})
    run.write("generations", gen.drop(columns="_o").reset_index(drop=True))
    shutil.rmtree(parts)   # parts, and any temp file a killed process left there


def stage_verify(run: store.Run, cfg: dict[str, Any], progress: Progress) -> None:
    from .verify import verify_many
    qs = {q.id: q for q in questions_from_frame(run.table("questions"))}
    gen = run.table("generations")
    t0 = time.perf_counter()
    progress("verify", 0, len(gen), None)
    items = [(qs[r.question_id], r.text) for r in gen.itertuples(index=False)]
    out = verify_many(items, workers=int(cfg["verify_workers"]))
    ver = gen[["question_id", "setting", "kind", "index"]].copy()
    ver["label"], ver["rule"], ver["evidence"] = zip(*out) if out else ([], [], [])
    run.write("verification", ver[VERIFICATION_COLUMNS])
    progress("verify", len(gen), len(gen), 0.0)
    counts = ver["label"].value_counts().to_dict()
    run.set_stage("verify", "done", seconds=round(time.perf_counter() - t0, 1), counts=counts)


def stage_self_eval(run: store.Run, backend: Backend, progress: Progress) -> None:
    qs = {q.id: q for q in questions_from_frame(run.table("questions"))}
    gen = run.table("generations")
    greedy = gen[(gen["setting"] == REF_SETTING) & (gen["kind"] == "greedy")]
    ids = list(greedy["question_id"])
    texts = list(greedy["text"])
    t0 = time.perf_counter()
    progress("self-evaluate", 0, 2 * len(ids), None)
    pt_msgs = [prompts.p_true_messages(qs[i], a) for i, a in zip(ids, texts)]
    if hasattr(backend, "option_probs_batch"):
        probs = backend.option_probs_batch(pt_msgs, prompts.P_TRUE_OPTIONS)
    else:
        probs = [backend.option_probs(m, ["True", "False"]) for m in pt_msgs]
        probs = [None if p is None else {"true": p.get("True", np.nan), "false": p.get("False", np.nan)}
                 for p in probs]
    progress("self-evaluate", len(ids), 2 * len(ids), None)
    vb_msgs = [prompts.verbalized_messages(qs[i], a) for i, a in zip(ids, texts)]
    if hasattr(backend, "complete_batch"):
        replies = backend.complete_batch(vb_msgs, 8)
    else:
        replies = [backend.complete(m, 8) for m in vb_msgs]
    parsed = [prompts.parse_verbalized(r) for r in replies]
    df = pd.DataFrame({
        "question_id": ids,
        "p_true": [np.nan if p is None else p["true"] for p in probs],
        "p_true_raw": ["unavailable: back end gives no token probabilities" if p is None else
                       f"true={p['true']:.6f} false={p['false']:.6f}" for p in probs],
        "verbalized": [np.nan if v is None else v for v in parsed],
        "verbalized_raw": replies,
    })
    run.write("self_eval", df[SELF_EVAL_COLUMNS])
    progress("self-evaluate", 2 * len(ids), 2 * len(ids), 0.0)
    run.set_stage("self_eval", "done", seconds=round(time.perf_counter() - t0, 1),
                  verbalized_parse_rate=round(float(np.mean([v is not None for v in parsed])) if parsed else 0, 4),
                  p_true_prompt=prompts.P_TRUE_PROMPT, p_true_options=prompts.P_TRUE_OPTIONS)


def stage_judge(run: store.Run, backend: Backend, progress: Progress) -> None:
    """Label every greedy answer with a model judge (for the judge-vs-verifier comparison only)."""
    from .analyses.judge import judge_messages, parse_judge
    qs = {q.id: q for q in questions_from_frame(run.table("questions"))}
    gen = run.table("generations")
    greedy = gen[(gen["setting"] == REF_SETTING) & (gen["kind"] == "greedy")]
    msgs = [judge_messages(qs[i].text, qs[i].references, a) for i, a in zip(greedy["question_id"], greedy["text"])]
    t0 = time.perf_counter()
    progress("judge", 0, len(msgs), None)
    replies = backend.complete_batch(msgs, 4) if hasattr(backend, "complete_batch") else \
        [backend.complete(m, 4) for m in msgs]
    df = pd.DataFrame({"question_id": list(greedy["question_id"]), "judge_model": getattr(backend, "name", "?"),
                       "judge_label": [parse_judge(r) for r in replies], "judge_raw": replies})
    store.write_table(run.path / "judge.parquet", df)
    progress("judge", len(msgs), len(msgs), 0.0)
    run.set_stage("judge", "done", judge=getattr(backend, "name", "?"), seconds=round(time.perf_counter() - t0, 1))


def stage_score(run: store.Run, cfg: dict[str, Any], progress: Progress, embedder=None) -> None:
    from .methods import ScoreConfig, compute_and_store
    t0 = time.perf_counter()
    progress("score", 0, 1, None)
    compute_and_store(run, ScoreConfig(seed=int(cfg["seed"])), embedder=embedder)
    from .evaluate import evaluate_run
    evaluate_run(run)
    progress("score", 1, 1, 0.0)
    run.set_stage("score", "done", seconds=round(time.perf_counter() - t0, 1))


def analyze_run(run: store.Run, progress: Progress = _noop) -> dict[str, Any]:
    """Every analysis from what the run stores (never calls the LLM); each writes its own file."""
    from .analyses.conformal import conformal_run
    from .analyses.disagreement import disagreement_run
    from .analyses.fragility import fragility_run
    from .analyses.geometry import geometry_run
    from .analyses.judge import judge_run
    from .methods import ScoreConfig
    steps = [("disagreement", disagreement_run), ("conformal", conformal_run), ("judge", judge_run),
             ("fragility", lambda r: fragility_run(r, ScoreConfig(seed=int(r.manifest.get("seed", 0))))),
             ("geometry", geometry_run)]
    out, t0 = {}, time.perf_counter()
    for i, (name, fn) in enumerate(steps):
        progress("analyze", i, len(steps), None)
        t = time.perf_counter()
        try:
            out[name] = fn(run)
        except (ValueError, store.RunError) as e:  # e.g. too few questions for this analysis: say so, go on
            out[name] = {"available": False, "reason": str(e)}
            run.set_stage(f"analyze:{name}", "failed", error=str(e))
            continue
        run.set_stage(f"analyze:{name}", "done", seconds=round(time.perf_counter() - t, 1))
    progress("analyze", len(steps), len(steps), 0.0)
    run.set_stage("analyze", "done", seconds=round(time.perf_counter() - t0, 1))
    return out


def machine_info() -> dict[str, Any]:
    import torch
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def run_pipeline(config: dict[str, Any], out: Path | str, progress: Progress | None = None, resume: bool = False,
                 api_key: str | None = None, backend: Backend | None = None) -> store.Run:
    """Run every stage into ``out``. With ``resume``, continue a run that stopped, keeping all finished work."""
    progress = progress or _noop
    out = Path(out)
    t_start = time.perf_counter()
    if resume:
        if not (out / "manifest.json").exists():
            raise PipelineError(f"--resume: {out} holds no run to resume")
        run = store.Run.open(out)
        cfg = {**DEFAULTS, **run.manifest["config"]}
    else:
        cfg = make_config(**config)
        questions = load_questions(cfg)
        if not questions:
            raise PipelineError("no questions selected")
        run = store.Run.create(out, public_config(cfg), cfg["model"],
                               sorted({q.dataset for q in questions}), int(cfg["seed"]))
        run.write("questions", questions_to_frame(questions))
        run.manifest["machine"] = machine_info()
        from .verify.sandbox import isolation_info
        run.manifest["sandbox"] = isolation_info()
        run.save_manifest()
    try:
        needs_model = not run.stage_done("generate") or (cfg["self_eval"] and not run.stage_done("self_eval")) \
            or (cfg["judge"] and not run.stage_done("judge"))
        if needs_model and backend is None:
            t = time.perf_counter()
            try:
                backend = load_backend(cfg, api_key=api_key)
            except (FileNotFoundError, ValueError) as e:
                raise PipelineError(f"cannot load model {cfg['model']!r}: {e}") from None
            run.manifest["backend"] = backend.describe() if hasattr(backend, "describe") else {"name": backend.name}
            caps = backend.capabilities
            run.manifest["capabilities"] = {"logprobs": caps.logprobs, "top_logprobs": caps.top_logprobs,
                                            "hidden_states": caps.hidden_states, "reason": caps.reason}
            run.set_stage("load_model", "done", seconds=round(time.perf_counter() - t, 1))
        if not run.stage_done("generate"):
            stage_generate(run, backend, cfg, progress)
        if not run.stage_done("verify"):
            stage_verify(run, cfg, progress)
        if cfg["self_eval"] and not run.stage_done("self_eval"):
            try:
                stage_self_eval(run, backend, progress)
            except BackendError as e:
                run.set_stage("self_eval", "failed", error=str(e))
                raise PipelineError(f"self-evaluation stopped: {e}. Generations and verification are saved; "
                                    "re-run with --resume.") from None
        if cfg["judge"] and not run.stage_done("judge"):
            stage_judge(run, backend, progress)
        if cfg["score"] and not run.stage_done("score"):
            stage_score(run, cfg, progress)
        if cfg["analyze"] and cfg["score"] and not run.stage_done("analyze"):
            analyze_run(run, progress)
    finally:  # wall time accumulates over resumed attempts, also when a stage fails
        run.manifest["wall_seconds"] = round(run.manifest.get("wall_seconds", 0) + time.perf_counter() - t_start, 1)
        run.save_manifest()
    return run
