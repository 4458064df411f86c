"""The pipeline against a real OpenAI-compatible HTTP server on 127.0.0.1 serving the bundled model:
answers are real, faults are injected, and a planted API key must never reach a file."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from uq_core import store
from uq_core.generate.loopback_server import start_server, stop_server
from uq_core.pipeline import PipelineError, run_pipeline

KEY = "sk-test-PLANTED-uqlens-0987654321"
CONFIG = {"model": "openai:smollm2-135m", "datasets": ["capitals"], "limit": 4, "samples": 2,
          "max_new_tokens": 8, "seed": 0}


@pytest.fixture(scope="module")
def server():
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    srv, url = start_server(api_key=KEY)
    yield srv, url
    stop_server(srv)
    torch.set_num_threads(threads)


def _all_text(root: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in root.rglob("*") if p.is_file()]


def test_api_run_is_complete_and_key_is_nowhere(server, tmp_path, monkeypatch, caplog, capfd):
    srv, url = server
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    caplog.set_level(logging.DEBUG)
    run = run_pipeline({**CONFIG, "base_url": url}, tmp_path / "api")
    from uq_core.report import build_report
    report = tmp_path / "report.html"
    report.write_text(build_report(run), encoding="utf-8")
    gen = run.table("generations")
    assert len(gen) == 4 * 3 and gen["token_logprobs"].map(len).gt(0).all()
    assert run.manifest["capabilities"]["hidden_states"] is False
    assert "hidden states" in run.manifest["capabilities"]["reason"]
    geo = run.json("analyses/geometry.json")
    assert geo["source"] == "answer_embeddings"
    ev = run.json("analyses/evaluation.json")["methods"]
    assert ev["hidden_probe"]["available"] is False and ev["hidden_probe"]["reason"]
    out, err = capfd.readouterr()
    leaks = [str(p) for p, data in _all_text(tmp_path) if KEY.encode() in data]
    assert leaks == []
    assert KEY not in caplog.text and KEY not in out and KEY not in err


def test_api_without_logprobs_marks_methods_unavailable(tmp_path, monkeypatch):
    srv, url = start_server(refuse_logprobs=True)
    try:
        monkeypatch.setenv("OPENAI_API_KEY", "unused")
        run = run_pipeline({**CONFIG, "base_url": url, "limit": 2}, tmp_path / "nolp")
    finally:
        stop_server(srv)
    ev = run.json("analyses/evaluation.json")["methods"]
    for name in ("msp", "perplexity", "mean_token_entropy", "p_true"):
        assert ev[name]["available"] is False, name
        assert ev[name]["reason"], name
    assert ev["semantic_entropy"]["available"] is True


def test_api_fault_keeps_work_and_resume_finishes(server, tmp_path, monkeypatch):
    srv, url = server
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    out = tmp_path / "faulty"
    cfg = {**CONFIG, "base_url": url, "batch_rows": 3, "score": False}   # one question per chunk
    srv.set_faults(queue=[], always=None)
    # let the first question through, then fail every call
    orig = srv.responder

    calls = {"n": 0}

    def responder(params):
        calls["n"] += 1
        if calls["n"] > 2:
            srv.set_faults(always="500")
        return orig(params)
    srv.responder = responder
    try:
        with pytest.raises(PipelineError) as e:
            run_pipeline(cfg, out)
    finally:
        srv.responder = orig
        srv.set_faults(queue=[], always=None)
    msg = str(e.value)
    assert "500" in msg and "--resume" in msg and KEY not in msg
    run = store.Run.open(out)
    assert run.manifest["stages"]["generate"]["status"] == "failed"
    saved = list((out / "parts").glob("gen_*.parquet"))
    assert len(saved) >= 1
    run = run_pipeline(cfg, out, resume=True)
    assert run.manifest["stages"]["generate"]["reused_from_disk"] == len(saved)
    assert run.table("generations")["question_id"].nunique() == 4
