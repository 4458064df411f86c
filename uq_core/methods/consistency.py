"""Consistency ("clustering") methods over the m sampled answers. Need >= 2 samples per question
(NaN for a question with fewer; unavailable when no question has 2)."""
from __future__ import annotations

import numpy as np

from ..stats.clustering import cluster_sizes
from ..stats.similarity import unit_rows
from .registry import Unavailable, register


def _multi(ctx) -> np.ndarray:
    ctx.need_samples(2)
    return ctx.inputs.counts >= 2


def _entropy(p: np.ndarray) -> np.ndarray:
    return -np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(axis=1)


@register("num_sets", "consistency", ("samples", "embeddings"),
          "NumSets: number of semantic clusters among the sampled answers (rule/tau from config)")
def num_sets(ctx) -> np.ndarray:
    ok = _multi(ctx)
    ids = ctx.clusters()
    return np.where(ok, ids.max(axis=1) + 1.0, np.nan)


@register("lexical_similarity", "consistency", ("samples",),
          "1 - mean pairwise token Jaccard of the sampled answers (variant 'token_jaccard')")
def lexical_similarity(ctx) -> np.ndarray:
    ok = _multi(ctx)
    J = ctx.jaccard()
    c = ctx.inputs.counts.astype(np.float64)
    pair = ctx.mask[:, :, None] & ctx.mask[:, None, :]
    off = np.where(pair, J, 0.0).sum(axis=(1, 2)) - c          # drop the diagonal of ones
    return np.where(ok, 1.0 - off / np.maximum(c * (c - 1), 1), np.nan)


@register("semantic_entropy", "consistency", ("samples", "embeddings"),
          "Discrete semantic entropy: -sum_C p(C) log p(C), p(C) = |C| / m")
def semantic_entropy(ctx) -> np.ndarray:
    ok = _multi(ctx)
    sizes = cluster_sizes(ctx.clusters())
    p = sizes / np.maximum(ctx.inputs.counts, 1)[:, None]
    return np.where(ok, _entropy(p), np.nan)


def rb_entropy(ids: np.ndarray, mean_lp: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Nature-2024 estimator: p(C) from logsumexp of mean token log-probs, normalised over all samples.

    Parameters
    ----------
    ids : int (n_q, m) cluster ids; mean_lp : float (n_q, m) l_s; valid : bool (n_q, m) samples to use.
    """
    m = ids.shape[1]
    onehot = (ids[:, :, None] == np.arange(m)[None, None, :]) & valid[:, :, None]
    l = np.where(onehot, mean_lp[:, :, None], -np.inf)                      # (n_q, m, K)
    mx = np.max(np.where(valid, mean_lp, -np.inf), axis=1)                  # (n_q,)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lse_c = np.log(np.exp(l - mx[:, None, None]).sum(axis=1)) + mx[:, None]  # (n_q, K), -inf if empty
        lse_all = np.log(np.exp(np.where(valid, mean_lp, -np.inf) - mx[:, None]).sum(axis=1)) + mx
        p = np.exp(lse_c - lse_all[:, None])
    return _entropy(np.nan_to_num(p, nan=0.0))


@register("semantic_entropy_rb", "consistency", ("samples", "sample_logprobs", "embeddings"),
          "Semantic entropy, Nature 2024 estimator: log p(C) = logsumexp_{s in C} l_s - logsumexp_all l_s, "
          "l_s = mean token log-prob")
def semantic_entropy_rb(ctx) -> np.ndarray:
    ok = _multi(ctx)
    inp = ctx.inputs
    valid = ctx.mask & (inp.sample_len > 0) & np.isfinite(inp.sample_lp_sum)
    if not valid.any():
        raise Unavailable("no token log-probs for the sampled answers (the back end did not return them)")
    mean_lp = np.where(valid, inp.sample_lp_sum / np.maximum(inp.sample_len, 1), 0.0)
    u = rb_entropy(ctx.clusters(), mean_lp, valid)
    return np.where(ok & (valid.sum(axis=1) >= 1), u, np.nan)


@register("embedding_dispersion", "consistency", ("samples", "embeddings"),
          "Mean L2 distance of the normalised sample embeddings to their centroid: (1/m) sum_j ||e_j - e_bar||")
def embedding_dispersion(ctx) -> np.ndarray:
    ok = _multi(ctx)
    ctx.need_embeddings()
    rows = ctx.inputs.sample_rows
    e = np.where(ctx.mask[..., None], unit_rows(ctx.inputs.vectors)[np.where(rows >= 0, rows, 0)], 0.0)
    c = np.maximum(ctx.inputs.counts, 1)[:, None]
    centroid = e.sum(axis=1) / c
    dist = np.linalg.norm(e - centroid[:, None, :], axis=2)
    return np.where(ok, np.where(ctx.mask, dist, 0.0).sum(axis=1) / c[:, 0], np.nan)
