"""The one list of UQ methods. Each family module registers its methods with :func:`register`.

A method is a function ``fn(ctx) -> np.ndarray`` of shape (n_q,) returning an **uncertainty**
(higher = less trustworthy) per question, where ``ctx`` is a :class:`uq_core.methods.context.Context`
(inputs, config and shared statistics). A method whose inputs are missing raises
:class:`Unavailable` with the reason; it never returns silent NaN or 0 instead.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

FAMILIES = ("token_prob", "consistency", "graph", "self_eval", "hidden")


class Unavailable(Exception):
    """The method cannot be computed on these inputs; ``str(e)`` is the reason shown to the user."""


@dataclass(frozen=True)
class Method:
    """A registered UQ method.

    Attributes
    ----------
    name : str
    family : str
        One of FAMILIES.
    needs : tuple of str
        Inputs it uses (e.g. 'greedy_logprobs', 'samples', 'embeddings', 'labels').
    description : str
        One line, shown in the UI.
    fn : callable
        ctx -> float array (n_q,), uncertainty.
    """
    name: str
    family: str
    needs: tuple[str, ...]
    description: str
    fn: Callable[..., np.ndarray]


REGISTRY: dict[str, Method] = {}


def register(name: str, family: str, needs: tuple[str, ...], description: str):
    """Decorator: add ``fn`` to REGISTRY under *name* (a name may be registered once)."""
    if family not in FAMILIES:
        raise ValueError(f"method {name!r}: unknown family {family!r}; expected one of {FAMILIES}")

    def deco(fn):
        if name in REGISTRY and REGISTRY[name].fn is not fn:
            raise ValueError(f"method {name!r} is registered twice")
        REGISTRY[name] = Method(name, family, tuple(needs), description, fn)
        return fn
    return deco


def method_names() -> list[str]:
    """Registered names in registration order."""
    return list(REGISTRY)


def describe() -> dict[str, dict]:
    """{name: {family, needs, description}} for every registered method."""
    return {m.name: {"family": m.family, "needs": list(m.needs), "description": m.description}
            for m in REGISTRY.values()}
