"""UQ methods: one registry (registry.REGISTRY), one module per family, scoring entry points.

Importing this package registers every method (in this order: token_prob, consistency, graph,
self_eval, hidden).
"""
from . import token_prob  # noqa: F401  (registration, import order = display order)
from . import consistency  # noqa: F401
from . import graph  # noqa: F401
from . import self_eval  # noqa: F401
from . import hidden  # noqa: F401
from .inputs import ScoreConfig, ScoreInputs, build_inputs, subsample
from .registry import REGISTRY, Method, Unavailable, describe, method_names, register
from .scoring import ScoreResult, compute_and_store, score

__all__ = ["REGISTRY", "Method", "ScoreConfig", "ScoreInputs", "ScoreResult", "Unavailable", "build_inputs",
           "compute_and_store", "describe", "method_names", "register", "score", "subsample"]
