"""The paper's analyses over a scored run; each ``*_run`` writes its own file(s) under analyses/ and returns the dict.

- disagreement_run -> overlap.json      (flagged-set overlap, rank correlations, chance level)
- geometry_run     -> geometry.json + umap.parquet (2D projection, confidence vs correctness separation)
- conformal_run    -> conformal.json    (conformal answer sets, selective answering with risk control)
- judge_run        -> judge.json        (model judge vs verifier)
``summary_*`` cut each dict down to what ``summary --json`` shows.
"""
from __future__ import annotations

from .conformal import conformal_run, risk_control, summary_conformal
from .disagreement import disagreement_run, paper_table, summary_overlap
from .geometry import geometry_run, summary_geometry
from .judge import judge_run, summary_judge

__all__ = ["conformal_run", "disagreement_run", "geometry_run", "judge_run", "paper_table", "risk_control",
           "summary_conformal", "summary_geometry", "summary_judge", "summary_overlap"]
