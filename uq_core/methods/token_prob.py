"""Token-probability baselines (need log-probs of the answers; API back ends may lack them)."""
from __future__ import annotations

import numpy as np

from .registry import Unavailable, register


def _greedy_lp(ctx) -> np.ndarray:
    lp = ctx.inputs.greedy_lp
    if not np.isfinite(lp).any():
        raise Unavailable("no token log-probs for the greedy answers (the back end did not return them)")
    return lp


def _row_or_nan(values: np.ndarray, ok: np.ndarray) -> np.ndarray:
    return np.where(ok, values, np.nan)


@register("msp", "token_prob", ("greedy_logprobs",),
          "Maximum sequence probability: -log p(greedy answer) = -sum of its token log-probs")
def msp(ctx) -> np.ndarray:
    lp = _greedy_lp(ctx)
    return _row_or_nan(-np.nansum(lp, axis=1), np.isfinite(lp).any(axis=1))


@register("perplexity", "token_prob", ("greedy_logprobs",),
          "Perplexity of the greedy answer: exp(-mean token log-prob)")
def perplexity(ctx) -> np.ndarray:
    lp = _greedy_lp(ctx)
    ok = np.isfinite(lp).any(axis=1)
    mean = np.nansum(lp, axis=1) / np.maximum(np.isfinite(lp).sum(axis=1), 1)
    return _row_or_nan(np.exp(-mean), ok)


@register("mean_token_entropy", "token_prob", ("greedy_top_logprobs",),
          "Mean over greedy tokens of the entropy of the top-5 next-token distribution, renormalised "
          "over those 5 (variant 'top5_renormalised')")
def mean_token_entropy(ctx) -> np.ndarray:
    top = ctx.inputs.greedy_top                                  # (n_q, L, k), NaN-padded
    tok_ok = np.isfinite(top).any(axis=2)                        # (n_q, L)
    if not tok_ok.any():
        raise Unavailable("no top-k log-probs for the greedy answers (the back end did not return them)")
    t = np.where(np.isfinite(top), top, -np.inf)
    mx = np.where(tok_ok, t.max(axis=2), 0.0)[..., None]
    e = np.exp(t - mx)
    p = e / np.maximum(e.sum(axis=2, keepdims=True), 1e-300)
    logp = np.where(p > 0, np.log(np.where(p > 0, p, 1.0)), 0.0)
    h = np.where(tok_ok, -(p * logp).sum(axis=2), 0.0)
    n_tok = tok_ok.sum(axis=1)
    return _row_or_nan(h.sum(axis=1) / np.maximum(n_tok, 1), n_tok > 0)


@register("predictive_entropy", "token_prob", ("samples", "sample_logprobs"),
          "Length-normalised predictive entropy: -(1/m) sum_j (1/L_j) log p(s_j) over the samples")
def predictive_entropy(ctx) -> np.ndarray:
    ctx.need_samples(1)
    inp = ctx.inputs
    ok = ctx.mask & (inp.sample_len > 0) & np.isfinite(inp.sample_lp_sum)
    if not ok.any():
        raise Unavailable("no token log-probs for the sampled answers (the back end did not return them)")
    per = np.where(ok, inp.sample_lp_sum / np.maximum(inp.sample_len, 1), 0.0)
    n = ok.sum(axis=1)
    return _row_or_nan(-per.sum(axis=1) / np.maximum(n, 1), n > 0)
