"""Graph (spectral) methods after Lin et al., "Generating with Confidence".

W (n_q, m, m) from config.similarity, symmetric, W_ii = 1; D = diag(row sums);
L = I - D^-1/2 W D^-1/2 with eigenvalues lambda_k. Need >= 2 samples per question.
"""
from __future__ import annotations

import numpy as np

from .registry import register


def _ok(ctx) -> np.ndarray:
    ctx.need_samples(2)
    ctx.W()                      # raises Unavailable when the similarity's inputs are missing
    return ctx.inputs.counts >= 2


def laplacian_eigh(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (g, m) ascending and eigenvectors (g, m, m) (columns) of L = I - D^-1/2 W D^-1/2."""
    m = w.shape[-1]
    inv = 1.0 / np.sqrt(w.sum(axis=2))
    lap = np.eye(m)[None] - inv[:, :, None] * w * inv[:, None, :]
    return np.linalg.eigh((lap + np.swapaxes(lap, 1, 2)) / 2.0)


def eigv_from(vals: np.ndarray) -> np.ndarray:
    """EigV = sum_k max(0, 1 - lambda_k); vals (g, m) -> (g,)."""
    return np.clip(1.0 - vals, 0.0, None).sum(axis=1)


def degree_from(w: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Degree = trace(m I - D) / m^2 = (m^2 - sum W) / m^2 over valid pairs; w (n_q, m, m)."""
    c = mask.sum(axis=1).astype(np.float64)
    s = np.where(mask[:, :, None] & mask[:, None, :], w, 0.0).sum(axis=(1, 2))
    return (c * c - s) / np.maximum(c * c, 1.0)


def eccentricity_from(vals: np.ndarray, vecs: np.ndarray, threshold: float, variant: str) -> np.ndarray:
    """Eccentricity from the eigenvectors with lambda < threshold; vals (g, m), vecs (g, m, m) -> (g,).

    'l2': || (||u_j - u_bar||_2)_j ||_2 (REFERENCE); 'l1': sum_j ||u_j - u_bar||_2;
    'row_centred': as zlin7/UQ-NLG code, each u_j centred on the mean of its own coordinates, then L2.
    """
    keep = vals < threshold                                   # (g, m) over eigenvectors
    V = np.where(keep[:, None, :], vecs, 0.0)                 # rows: answers j, columns: kept eigvecs
    if variant == "row_centred":
        k = np.maximum(keep.sum(axis=1), 1)[:, None, None]
        C = np.where(keep[:, None, :], V - V.sum(axis=2, keepdims=True) / k, 0.0)
    else:
        C = V - V.mean(axis=1, keepdims=True)
    d = np.linalg.norm(C, axis=2)                             # (g, m) per-answer distances
    if variant == "l1":
        return d.sum(axis=1)
    return np.linalg.norm(d, axis=1)


def _per_group(ctx, fn) -> np.ndarray:
    ok = _ok(ctx)
    out = np.full(ctx.inputs.n_q, np.nan)
    for rows, vals, vecs in ctx.laplacian_eig():
        out[rows] = fn(vals, vecs)
    return np.where(ok, out, np.nan)


@register("eigv", "graph", ("samples", "similarity"),
          "EigV: sum_k max(0, 1 - lambda_k) of the normalised graph Laplacian (soft number of clusters)")
def eigv(ctx) -> np.ndarray:
    return _per_group(ctx, lambda vals, vecs: eigv_from(vals))


@register("degree", "graph", ("samples", "similarity"),
          "Degree: trace(mI - D) / m^2, one minus the mean similarity between samples")
def degree(ctx) -> np.ndarray:
    ok = _ok(ctx)
    return np.where(ok, degree_from(ctx.W(), ctx.mask), np.nan)


@register("eccentricity", "graph", ("samples", "similarity"),
          "Eccentricity: spread of the answers' spectral embeddings (eigenvectors with lambda < threshold)")
def eccentricity(ctx) -> np.ndarray:
    thr, var = ctx.config.eig_threshold, ctx.config.eccentricity_variant
    return _per_group(ctx, lambda vals, vecs: eccentricity_from(vals, vecs, thr, var))
