"""Shared statistics for one (inputs, config): computed once, reused by every method.

Raw statistics (cosine, Jaccard, NLI) are cached on ``inputs.cache`` so that re-scoring the same
inputs with another tau / rule / similarity (fragility) does not recompute them.
"""
from __future__ import annotations

import numpy as np

from ..stats.clustering import match_matrix, transitive_clusters
from ..stats.similarity import NLIModel, cosine_stack, jaccard_stack, nli_stacks, similarity_from
from .graph import laplacian_eigh
from .inputs import ScoreConfig, ScoreInputs
from .registry import Unavailable

_NLI_MODELS: dict[str, NLIModel] = {}


class Context:
    """Inputs + config + memoised shared statistics handed to every method function."""

    def __init__(self, inputs: ScoreInputs, config: ScoreConfig):
        self.inputs = inputs
        self.config = config
        self.mask = inputs.mask

    def _memo(self, key, fn):
        c = self.inputs.cache
        if key not in c:
            c[key] = fn()
        return c[key]

    # -- availability guards ------------------------------------------------------------
    def need_samples(self, min_m: int = 1) -> None:
        if self.inputs.counts.max(initial=0) < min_m:
            raise Unavailable(f"needs at least {min_m} sampled answer(s) per question; the setting "
                              f"{self.inputs.setting!r} has at most {int(self.inputs.counts.max(initial=0))}")

    def need_embeddings(self) -> None:
        if self.inputs.vectors is None or self.inputs.vectors.shape[0] == 0:
            raise Unavailable("no answer embeddings (stats/embeddings.npy) for this run")

    # -- raw statistics -------------------------------------------------------------------
    def cos(self) -> np.ndarray:
        """Raw cosine (n_q, m, m)."""
        self.need_embeddings()
        return self._memo("cos", lambda: cosine_stack(self.inputs.sample_rows, self.inputs.vectors))

    def jaccard(self) -> np.ndarray:
        return self._memo("jaccard", lambda: jaccard_stack(self.inputs.sample_text, self.mask))

    def nli(self) -> tuple[np.ndarray, np.ndarray]:
        path = self.config.nli_model
        if not path:
            raise Unavailable("needs a local NLI cross-encoder model (ScoreConfig.nli_model is not set)")

        def compute():
            model = _NLI_MODELS.setdefault(path, NLIModel(path))
            try:
                return nli_stacks(self.inputs.sample_text, self.mask, model)
            except (OSError, ValueError) as e:
                raise Unavailable(f"NLI model {path!r} could not be used: {e}") from None
        return self._memo(("nli", path), compute)

    # -- derived statistics ---------------------------------------------------------------
    def W(self, kind: str | None = None) -> np.ndarray:
        """Symmetric similarity (n_q, m, m) in [0, 1] for *kind* (default config.similarity)."""
        kind = kind or self.config.similarity

        def compute():
            if kind.startswith("cosine"):
                return similarity_from(kind, cos=self.cos(), mask=self.mask)
            if kind == "jaccard":
                return similarity_from(kind, jac=self.jaccard(), mask=self.mask)
            ent, con = self.nli()
            return similarity_from(kind, ent=ent, con=con, mask=self.mask)
        key = ("W", kind, self.config.nli_model if kind.startswith("nli") else None)
        return self._memo(key, compute)

    def clusters(self, rule: str | None = None, tau: float | None = None) -> np.ndarray:
        """Cluster ids (n_q, m), -1 on padding, for *rule* / *tau* (defaults from config)."""
        rule = rule or self.config.rule
        tau = self.config.tau if tau is None else tau
        tau_key = float(tau) if rule == "cosine" else None

        def compute():
            kw = {}
            if rule == "cosine":
                kw = {"cos": self.cos(), "tau": tau}
            elif rule == "exact":
                kw = {"texts": self.inputs.sample_text}
            else:
                kw = dict(zip(("ent", "con"), self.nli()))
            return transitive_clusters(match_matrix(rule, self.mask, **kw), self.mask)
        return self._memo(("clusters", rule, tau_key, self.config.nli_model), compute)

    def laplacian_eig(self, kind: str | None = None) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Eigen-decomposition of L = I - D^-1/2 W D^-1/2, batched per group of equal m.

        Returns a list of (question rows, eigenvalues (g, m), eigenvectors (g, m, m)) per m >= 1.
        """
        kind = kind or self.config.similarity

        def compute():
            W = self.W(kind)
            out = []
            for m in np.unique(self.inputs.counts):
                if m < 1:
                    continue
                rows = np.nonzero(self.inputs.counts == m)[0]
                vals, vecs = laplacian_eigh(W[rows][:, :m, :m])
                out.append((rows, vals, vecs))
            return out
        return self._memo(("eig", kind, self.config.nli_model if kind.startswith("nli") else None), compute)
