"""Self-evaluation methods: the model's own judgement of its greedy answer (from self_eval table)."""
from __future__ import annotations

import numpy as np

from .registry import Unavailable, register


def _column(ctx, values: np.ndarray, what: str) -> np.ndarray:
    if ctx.inputs.self_eval_reason:
        raise Unavailable(ctx.inputs.self_eval_reason)
    if not np.isfinite(values).any():
        raise Unavailable(f"no {what} value was recorded for any question")
    return values


@register("p_true", "self_eval", ("p_true",),
          "P(True): U = 1 - p, p = probability the model calls its own greedy answer True")
def p_true(ctx) -> np.ndarray:
    p = _column(ctx, ctx.inputs.p_true, "P(True)")
    if np.nanmin(p) < 0 or np.nanmax(p) > 1:
        raise ValueError("self_eval.p_true must lie in [0, 1]")
    return 1.0 - p


@register("verbalized", "self_eval", ("verbalized",),
          "Verbalized confidence: U = 1 - v/100 for the model's stated 0-100 confidence (unparseable = NaN)")
def verbalized(ctx) -> np.ndarray:
    v = _column(ctx, ctx.inputs.verbalized, "verbalized confidence")
    return 1.0 - np.clip(v, 0.0, 100.0) / 100.0
