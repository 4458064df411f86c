"""Semantic clustering of sampled answers by transitive merging (REFERENCE.md).

Answers are visited in sample order; answer j joins the first existing cluster whose
*representative* (its first member) matches j under the rule, otherwise it starts a new
cluster. Rules ("are two answers the same meaning?"):

- ``cosine``       : raw cosine of the sentence embeddings >= tau (tau in (-1, 1], e.g. 0.7-0.95).
- ``exact``        : normalised strings equal (lower case, no punctuation, no articles).
- ``nli_strict``   : entailment is the most likely NLI class in both directions.
- ``nli_nocontra`` : contradiction is the most likely class in neither direction.

The loop runs over the m answer positions only; every step is vectorised over questions.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .similarity import normalise_text

RULES = ("cosine", "exact", "nli_strict", "nli_nocontra")
DEFAULT_TAUS = (0.7, 0.8, 0.85, 0.9, 0.95)


def match_matrix(rule: str, mask: np.ndarray, cos: np.ndarray | None = None, texts: np.ndarray | None = None,
                 ent: np.ndarray | None = None, con: np.ndarray | None = None, tau: float | None = None) -> np.ndarray:
    """Boolean (n_q, m, m) "same meaning" relation for *rule* (see module doc).

    ``ent``/``con`` are directional P(entail)/P(contradict); the NLI neutral class is 1 - ent - con.
    """
    if rule == "cosine":
        if tau is None or not np.isfinite(tau):
            raise ValueError("rule 'cosine' needs a threshold tau")
        match = cos >= tau
    elif rule == "exact":
        norm = np.vectorize(normalise_text, otypes=[object])(np.where(mask, texts, ""))
        match = norm[:, :, None] == norm[:, None, :]
    elif rule in ("nli_strict", "nli_nocontra"):
        if ent is None or con is None:
            raise ValueError(f"rule {rule!r} needs an NLI model (none given)")
        neu = 1.0 - ent - con
        if rule == "nli_strict":
            d = (ent >= con) & (ent >= neu)
            match = d & np.swapaxes(d, 1, 2)
        else:
            c = (con > ent) & (con > neu)
            match = ~(c | np.swapaxes(c, 1, 2))
    else:
        raise ValueError(f"unknown clustering rule {rule!r}; expected one of {RULES}")
    return np.asarray(match, dtype=bool) & mask[:, :, None] & mask[:, None, :]


def transitive_clusters(match: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Cluster ids (n_q, m), 0..k-1 in order of first appearance; -1 on padding.

    Parameters
    ----------
    match : bool (n_q, m, m)
        match[q, i, j]: answers i and j of question q have the same meaning.
    mask : bool (n_q, m)
        Valid samples.
    """
    n_q, m = mask.shape
    ids = np.full((n_q, m), -1, dtype=np.int64)
    rep_of = np.full((n_q, m), -1, dtype=np.int64)   # rep_of[q, c] = index of cluster c's representative
    n_clusters = np.zeros(n_q, dtype=np.int64)
    rows = np.arange(n_q)
    for j in range(m):
        valid = mask[:, j]
        reps = np.where(rep_of >= 0, rep_of, 0)
        hit = match[rows[:, None], j, reps] & (rep_of >= 0)          # (n_q, m): does j match cluster c?
        has = hit.any(axis=1)
        first = np.argmax(hit, axis=1)
        new = valid & ~has
        ids[valid & has, j] = first[valid & has]
        ids[new, j] = n_clusters[new]
        rep_of[new, n_clusters[new]] = j
        n_clusters += new
    return ids


def cluster_sizes(ids: np.ndarray) -> np.ndarray:
    """Counts (n_q, m) of members per cluster id (zero for unused ids)."""
    n_q, m = ids.shape
    onehot = (ids[:, :, None] == np.arange(m)[None, None, :])
    return onehot.sum(axis=1)


def clusters_frame(question_ids, setting: str, rule: str, tau: float, ids: np.ndarray,
                   counts: np.ndarray) -> pd.DataFrame:
    """Rows for stats/clusters.parquet (cluster_ids aligned with sample index 0..m-1)."""
    return pd.DataFrame({
        "question_id": list(question_ids),
        "setting": setting,
        "rule": rule,
        "tau": float(tau) if tau is not None else np.nan,
        "cluster_ids": [ids[i, :c].tolist() for i, c in enumerate(counts)],
    })
