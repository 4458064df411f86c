"""Bundled question sets and the loader API.

``BUNDLED`` lists every set; ``load`` returns a reproducible, stratified subset as
``uq_core.schema.Question`` objects; ``describe`` / ``format_table`` back the
``python -m uq_core datasets`` command. User files go through ``upload.parse_user_file``.
"""
from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from ..schema import Question
from . import bundled
from .errors import DatasetError

__all__ = ["BUNDLED", "DatasetInfo", "DatasetError", "load", "describe", "format_table", "allocate"]


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    verifier: str
    licence: str
    source: str
    description: str
    loader: Callable[[], list[Question]]


BUNDLED: dict[str, DatasetInfo] = {d.name: d for d in [
    DatasetInfo("capitals", "alias", "ODbL 1.0", "github.com/mledoze/countries",
                "capital of each country with exactly one capital", bundled.load_capitals),
    DatasetInfo("arithmetic", "numeric", "project (generated)", "uq_core/datasets/bundled.py",
                "seeded a+b, a-b, a x b on small integers", bundled.load_arithmetic),
    DatasetInfo("nq_open", "alias", "CC BY-SA 3.0", "github.com/google-research-datasets/natural-questions",
                "Natural Questions open-domain, dev split", bundled.load_nq_open),
    DatasetInfo("svamp", "numeric", "MIT", "github.com/arkilpatel/SVAMP",
                "one-step math word problems", bundled.load_svamp),
    DatasetInfo("gsm8k", "numeric", "MIT", "github.com/openai/grade-school-math",
                "grade-school math word problems, test split", bundled.load_gsm8k),
    DatasetInfo("humaneval", "unit_test", "MIT", "github.com/openai/human-eval",
                "Python functions checked by unit tests", bundled.load_humaneval),
]}


@lru_cache(maxsize=None)
def _all(name: str) -> tuple[Question, ...]:
    return tuple(BUNDLED[name].loader())


def _check_names(names: list[str]) -> list[str]:
    if isinstance(names, str):
        names = [names]
    names = list(names or [])
    if not names:
        raise DatasetError(f"no question set named; choose from {sorted(BUNDLED)}")
    unknown = [n for n in names if n not in BUNDLED]
    if unknown:
        raise DatasetError(f"unknown question set(s) {unknown}; choose from {sorted(BUNDLED)}")
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise DatasetError(f"question set(s) named more than once: {dup}")
    return names


def allocate(sizes: dict[str, int], limit: int) -> dict[str, int]:
    """Split *limit* across sets as equally as possible, never more than a set holds.

    Smaller sets are filled first; what they cannot take goes to the others. Ties keep the
    order of *sizes*. The result sums to min(limit, total size).
    """
    if limit < 0:
        raise DatasetError(f"limit must be >= 0, got {limit}")
    order = sorted(sizes, key=lambda n: sizes[n])
    out, remaining = {}, limit
    for i, name in enumerate(order):
        take = min(sizes[name], math.ceil(remaining / (len(order) - i)))
        out[name] = take
        remaining -= take
    return {n: out[n] for n in sizes}


def load(names: list[str], limit: int | dict[str, int] | None = None, seed: int = 0) -> list[Question]:
    """Questions from the named bundled sets.

    Parameters
    ----------
    names : list of str
        Keys of ``BUNDLED``, each at most once.
    limit : int, dict or None
        None: every item. int: total number of questions, stratified across the sets (see
        ``allocate``). dict name -> count: a custom mix (each count <= that set's size).
    seed : int
        Chooses the subset reproducibly; each set's items keep their upstream order.

    Returns
    -------
    list of Question, grouped by set in the order of *names*.
    """
    names = _check_names(names)
    sizes = {n: len(_all(n)) for n in names}
    if limit is None:
        counts = dict(sizes)
    elif isinstance(limit, dict):
        extra = sorted(set(limit) - set(names))
        if extra:
            raise DatasetError(f"limit names set(s) {extra} that are not in {names}")
        counts = {n: limit.get(n, 0) for n in names}
        bad = [f"{n}: {c} (holds {sizes[n]})" for n, c in counts.items()
               if not isinstance(c, int) or isinstance(c, bool) or c < 0 or c > sizes[n]]
        if bad:
            raise DatasetError("invalid count(s): " + "; ".join(bad))
    elif isinstance(limit, int) and not isinstance(limit, bool):
        counts = allocate(sizes, limit)
    else:
        raise DatasetError(f"limit must be None, an int or a dict name->count, got {type(limit).__name__}")
    out: list[Question] = []
    for name in names:
        items, k = _all(name), counts[name]
        rng = random.Random(f"{seed}/{name}")
        idx = range(len(items)) if k == len(items) else sorted(rng.sample(range(len(items)), k))
        out.extend(copy.deepcopy(items[i]) for i in idx)
    return out


def describe() -> list[dict]:
    """One row per bundled set: name, n_items, verifier, licence."""
    return [{"name": d.name, "n_items": len(_all(d.name)), "verifier": d.verifier, "licence": d.licence}
            for d in BUNDLED.values()]


def format_table(rows: list[dict]) -> str:
    """Rows (dicts with the same keys) as an aligned text table with a header line."""
    if not rows:
        return "(no rows)"
    cols = list(rows[0])
    cells = [[str(c) for c in cols]] + [[str(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    numeric = [all(isinstance(r.get(c), (int, float)) for r in rows) for c in cols]
    fmt = lambda row: "  ".join(v.rjust(w) if num else v.ljust(w)  # noqa: E731
                                for v, w, num in zip(row, widths, numeric)).rstrip()
    lines = [fmt(cells[0]), "  ".join("-" * w for w in widths)] + [fmt(r) for r in cells[1:]]
    return "\n".join(lines)
