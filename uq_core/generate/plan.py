"""Planning generation: which (setting, question) jobs a run needs, and how they pack into batches.

The reference setting covers every question; sweep settings (other temperatures, other prompt templates of the
same family) cover a fixed seeded subset.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ..schema import REF_SETTING, Question
from . import prompts
from .base import GenRequest, GenResult


@dataclass
class Job:
    setting: str
    question: Question
    template: prompts.Template
    temperature: float
    n_samples: int
    greedy: bool = True


def plan_jobs(questions: list[Question], cfg: dict[str, Any]) -> list[Job]:
    """Reference jobs for every question, then sweep jobs on a fixed seeded subset."""
    T, m = float(cfg["temperature"]), int(cfg["samples"])
    jobs = [Job(REF_SETTING, q, prompts.default_template(q), T, m) for q in questions]
    if not cfg["temperatures"] and not cfg["templates"]:
        return jobs
    subset = [q for q in questions if not cfg.get("sweep_datasets") or q.dataset in cfg["sweep_datasets"]]
    if cfg.get("sweep_limit") and cfg["sweep_limit"] < len(subset):
        subset = sorted(random.Random(int(cfg["seed"]) + 1).sample(subset, int(cfg["sweep_limit"])),
                        key=lambda q: q.id)
    ms = int(cfg["sweep_samples"])
    for t in cfg["temperatures"]:
        if abs(float(t) - T) > 1e-9:
            # greedy decoding does not depend on temperature: these settings reuse the reference greedy answer
            jobs += [Job(f"temperature={float(t):g}", q, prompts.default_template(q), float(t), ms, greedy=False)
                     for q in subset]
    for tid in cfg["templates"]:
        tpl = prompts.get_template(tid)
        jobs += [Job(f"template={tid}", q, tpl, T, ms) for q in subset
                 if prompts.family_of(q) == tpl.family and prompts.default_template(q).id != tid]
    return jobs


def request_for(job: Job, cfg: dict[str, Any]) -> GenRequest:
    return GenRequest(question_id=job.question.id, messages=prompts.answer_messages(job.question, job.template),
                      n_samples=job.n_samples, temperature=job.temperature, top_p=float(cfg["top_p"]),
                      max_new_tokens=int(cfg["max_new_tokens"] or job.template.max_new_tokens),
                      stop_newline=job.template.stop_newline, seed=int(cfg["seed"]), greedy=job.greedy)


def rows_for(job: Job, res: GenResult, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    base = {"question_id": job.question.id, "setting": job.setting, "top_p": float(cfg["top_p"]),
            "template_id": job.template.id, "seed": int(cfg["seed"])}
    out = []
    items = ([("greedy", 0, 0.0, res.greedy)] if res.greedy else []) + \
        [("sample", j, job.temperature, g) for j, g in enumerate(res.samples)]
    for kind, j, temp, g in items:
        out.append({**base, "kind": kind, "index": j, "text": g.text, "token_logprobs": list(g.token_logprobs),
                    "top_logprobs": [list(t) for t in g.top_logprobs], "n_tokens": g.n_tokens,
                    "finish_reason": g.finish_reason, "temperature": temp})
    return out


def pack(jobs: list[Job], max_rows: int) -> list[list[Job]]:
    """Consecutive jobs packed so that one chunk (one batch, one part file) holds at most max_rows rows."""
    out: list[list[Job]] = []
    rows = 0
    for j in jobs:
        need = int(j.greedy) + j.n_samples
        if out and rows + need <= max_rows:
            out[-1].append(j)
            rows += need
        else:
            out.append([j])
            rows = need
    return out
