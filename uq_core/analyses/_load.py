"""Shared loading for the analyses: 'ref' scores, available methods, greedy labels, JSON cleaning."""
from __future__ import annotations


import numpy as np
import pandas as pd

from ..schema import REF_SETTING
from ..store import RunError
from ..store import to_jsonable as clean  # noqa: F401  (re-exported to the analyses)

KEY_COLS = ("setting", "question_id")


def ref_scores(run, setting: str = REF_SETTING) -> pd.DataFrame:
    """Scores of one setting indexed by question_id (one float column per method).

    Raises RunError when scores.parquet is missing or has no row for *setting*.
    """
    if not run.has("scores.parquet"):
        raise RunError(f"{run.path}: no scores.parquet; score the run first (`python -m uq_core score RUN`)")
    df = run.table("scores")
    missing = [c for c in KEY_COLS if c not in df.columns]
    if missing:
        raise RunError(f"{run.path / 'scores.parquet'}: missing column(s) {', '.join(missing)}")
    df = df[df["setting"] == setting].drop(columns=["setting"])
    if df.empty:
        raise RunError(f"{run.path / 'scores.parquet'}: no rows for setting {setting!r}")
    if df["question_id"].duplicated().any():
        raise RunError(f"{run.path / 'scores.parquet'}: duplicate question_id rows in setting {setting!r}")
    df = df.set_index("question_id")
    return df.apply(pd.to_numeric, errors="coerce").astype(float)


def available_methods(run, scores: pd.DataFrame) -> list[str]:
    """Method columns of *scores* that stats/methods.json marks available and that hold a finite value."""
    meta = run.json("stats/methods.json") if run.has("stats/methods.json") else {}
    out = []
    for m in scores.columns:
        if meta.get(m, {}).get("available", True) is False:
            continue
        if np.isfinite(scores[m].to_numpy(float)).any():
            out.append(m)
    return out


def greedy_labels(run, setting: str = REF_SETTING) -> pd.Series:
    """question_id -> 'right' | 'wrong' | 'unverifiable' for the greedy answer of *setting*."""
    v = run.table("verification")
    v = v[(v["setting"] == setting) & (v["kind"] == "greedy")].drop_duplicates("question_id")
    return v.set_index("question_id")["label"].astype(str)


def wrong_indicator(labels: pd.Series) -> pd.Series:
    """1.0 wrong / 0.0 right / NaN unverifiable (detection positive class = wrong)."""
    return labels.map({"right": 0.0, "wrong": 1.0}).astype(float)

