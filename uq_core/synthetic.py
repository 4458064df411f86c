"""Realistic synthetic runs (no model call) for the scoring benchmark and unit tests.

Each question has 4 candidate meanings ("concepts") with Dirichlet weights; every concept has 3
near-duplicate surface forms. Samples draw a concept by weight and a surface form at random (2% are
empty strings). Embeddings are synthetic, 384-d, L2-normalised: forms of one concept have cosine
~0.9, concepts of one question ~0.3-0.5. The greedy answer is the heaviest concept; it is right with
probability equal to that weight (so consensus carries some, not all, signal about truth).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .schema import GENERATION_COLUMNS, QUESTION_COLUMNS, REF_SETTING
from .stats.embeddings import EMB_DIM, EmbeddingStore, save_store

_SYL = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "da", "fe", "gu", "hi", "jo"]
_FILLERS = ["the", "it is", "answer:", "probably", "I think"]


def _word(rng) -> str:
    return "".join(rng.choice(_SYL, size=rng.integers(2, 4)))


def synth_world(n_questions: int, m: int, seed: int = 0, settings=(REF_SETTING,), datasets=("trivia", "math"),
                logprobs: bool = True, n_layers: int = 3, hidden_dim: int = 32) -> dict:
    """Tables + embeddings of a synthetic run (see module doc). Returns a dict of DataFrames/arrays."""
    rng = np.random.default_rng(seed)
    n_c, n_f = 4, 3
    qids = [f"q{i:05d}" for i in range(n_questions)]
    topic = rng.normal(size=(n_questions, 1, EMB_DIM))
    concept = topic * 0.6 + rng.normal(size=(n_questions, n_c, EMB_DIM))
    concept /= np.linalg.norm(concept, axis=2, keepdims=True)
    form = concept[:, :, None, :] + rng.normal(size=(n_questions, n_c, n_f, EMB_DIM)) * (0.3 / np.sqrt(EMB_DIM))
    form /= np.linalg.norm(form, axis=3, keepdims=True)
    words = [[" ".join(_word(rng) for _ in range(rng.integers(1, 4))) for _ in range(n_c)] for _ in qids]
    texts = [[[w, f"{rng.choice(_FILLERS)} {w}", f"{w}."] for w in ws] for ws in words]
    store_texts, store_vecs = [""], [rng.normal(size=EMB_DIM)]
    store_vecs[0] /= np.linalg.norm(store_vecs[0])
    for q in range(n_questions):
        for c in range(n_c):
            for f in range(n_f):
                store_texts.append(texts[q][c][f])
                store_vecs.append(form[q, c, f])
    store = {}
    for t, v in zip(store_texts, store_vecs):
        store.setdefault(t, v)

    weights = np.sort(rng.dirichlet(np.full(n_c, 0.6), size=n_questions), axis=1)[:, ::-1]
    right = rng.random(n_questions) < weights[:, 0]
    labels = np.where(right, "right", "wrong").astype(object)
    labels[rng.random(n_questions) < 0.03] = "unverifiable"

    def lp(c_w: float, text: str):
        L = max(len(text.split()), 1) + 1
        if not logprobs:
            return [], []
        tok = np.minimum(np.log(c_w) / L - np.abs(rng.normal(0, 0.3, L)), 0.0)
        top = np.sort(np.log(rng.dirichlet(np.ones(5), size=L)), axis=1)[:, ::-1]
        return tok.tolist(), [r.tolist() for r in top]

    rows, ver = [], []
    for s_i, setting in enumerate(settings):
        srng = np.random.default_rng(seed + 1000 * (s_i + 1))
        for q, qid in enumerate(qids):
            g_text = texts[q][0][0]
            tl, tp = lp(weights[q, 0], g_text)
            rows.append((qid, setting, "greedy", 0, g_text, tl, tp, len(tl), "stop", 0.0, 1.0, "qa_short", seed))
            ver.append((qid, setting, "greedy", 0, labels[q], "exact", ""))
            cs = srng.choice(n_c, size=m, p=weights[q])
            fs = srng.integers(0, n_f, size=m)
            for j in range(m):
                t = "" if srng.random() < 0.02 else texts[q][cs[j]][fs[j]]
                tl, tp = lp(weights[q, cs[j]], t)
                rows.append((qid, setting, "sample", j, t, tl, tp, len(tl), "stop", 1.0, 1.0, "qa_short", seed + j))
                ver.append((qid, setting, "sample", j, "right" if (cs[j] == 0 and right[q]) else "wrong", "exact", ""))
    gens = pd.DataFrame(rows, columns=GENERATION_COLUMNS)
    verification = pd.DataFrame(ver, columns=["question_id", "setting", "kind", "index", "label", "rule", "evidence"])
    questions = pd.DataFrame({"id": qids, "dataset": [datasets[i % len(datasets)] for i in range(n_questions)],
                              "text": [f"question {q}?" for q in qids], "references": [[w[0]] for w in words],
                              "verifier": "alias", "payload": "{}", "metadata": "{}"}, columns=QUESTION_COLUMNS)
    conf = 1 / (1 + np.exp(-(3 * weights[:, 0] - 1.5 + rng.normal(0, 0.7, n_questions))))
    verb = np.round(np.clip(conf * 100 + rng.normal(0, 10, n_questions), 0, 100))
    verb[rng.random(n_questions) < 0.05] = np.nan
    self_eval = pd.DataFrame({"question_id": qids, "p_true": conf, "p_true_raw": "", "verbalized": verb,
                              "verbalized_raw": ""})
    y = (labels == "right").astype(float)
    hidden = (rng.normal(size=(n_questions, n_layers, hidden_dim))
              + np.linspace(0.2, 1.0, n_layers)[None, :, None] * (y[:, None, None] - 0.5) * np.eye(hidden_dim)[0])
    return {"questions": questions, "generations": gens, "verification": verification, "self_eval": self_eval,
            "hidden": hidden.astype(np.float16), "layers": list(range(n_layers)),
            "store": EmbeddingStore(list(store), np.array(list(store.values()), dtype=np.float32), {})}


def make_synthetic_run(path: Path, n_questions: int = 40, m: int = 10, seed: int = 0, settings=(REF_SETTING,),
                       logprobs: bool = True, hidden: bool = True, self_eval: bool = True):
    """Write a synthetic run (tables, hidden/, stats/embeddings) at *path*; returns the opened Run."""
    from .store import Run

    w = synth_world(n_questions, m, seed, settings, logprobs=logprobs)
    run = Run.create(Path(path), {"synthetic": True}, "synthetic", sorted(w["questions"]["dataset"].unique()), seed)
    for name in ("questions", "generations", "verification"):
        run.write(name, w[name])
    if self_eval:
        run.write("self_eval", w["self_eval"])
    if hidden:
        run.write_array("hidden/greedy_last.npy", w["hidden"])
        run.write_json("hidden/index.json", {"question_ids": w["questions"]["id"].tolist(), "layers": w["layers"],
                                             "sample_layer": w["layers"][-1], "source": "hidden_states"})
    save_store(run, w["store"])
    return run


def make_run_from_answers(path: Path, answers: dict[str, list[str]], greedy: dict[str, str] | None = None,
                          labels: dict[str, str] | None = None, logprobs: dict[str, list[list[float]]] | None = None,
                          greedy_logprobs: dict[str, list[float]] | None = None, dataset: str = "tiny",
                          setting: str = REF_SETTING):
    """A small run from hand-written answers (unit tests, examples); no embeddings are written.

    answers: {question_id: [sample texts]}; greedy: {qid: text} (default: first sample);
    labels: {qid: 'right'|'wrong'|'unverifiable'} for the greedy answer (default 'right');
    logprobs: {qid: per-sample token log-prob lists}; greedy_logprobs: {qid: token log-probs}.
    """
    from .store import Run

    greedy, labels = greedy or {}, labels or {}
    logprobs, greedy_logprobs = logprobs or {}, greedy_logprobs or {}
    rows, ver = [], []
    for q, samples in answers.items():
        g = greedy.get(q, samples[0] if samples else "")
        glp = list(greedy_logprobs.get(q, []))
        rows.append((q, setting, "greedy", 0, g, glp, [], len(glp), "stop", 0.0, 1.0, "qa_short", 0))
        ver.append((q, setting, "greedy", 0, labels.get(q, "right"), "exact", ""))
        for j, t in enumerate(samples):
            lp = list(logprobs.get(q, [[]] * len(samples))[j])
            rows.append((q, setting, "sample", j, t, lp, [], len(lp), "stop", 1.0, 1.0, "qa_short", j))
    qids = list(answers)
    run = Run.create(Path(path), {}, "hand-written", [dataset], 0)
    run.write("questions", pd.DataFrame({"id": qids, "dataset": dataset, "text": qids, "references": [[]] * len(qids),
                                         "verifier": "alias", "payload": "{}", "metadata": "{}"},
                                        columns=QUESTION_COLUMNS))
    run.write("generations", pd.DataFrame(rows, columns=GENERATION_COLUMNS))
    run.write("verification", pd.DataFrame(ver, columns=["question_id", "setting", "kind", "index", "label", "rule",
                                                         "evidence"]))
    return run
