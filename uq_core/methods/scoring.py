"""Score every registered method on stored generations, and store scores + shared statistics."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..schema import REF_SETTING
from ..stats.clustering import clusters_frame
from ..stats.embeddings import run_store
from ..store import write_table
from .context import Context
from .inputs import ScoreConfig, ScoreInputs, build_inputs
from .registry import REGISTRY, Unavailable


@dataclass
class ScoreResult:
    """Uncertainties of one setting.

    Attributes
    ----------
    setting : str
    scores : DataFrame, index question_id, one float column per method (higher = less trustworthy)
    availability : {method: (available, reason)}; reason '' when fully available
    config : ScoreConfig
    """
    setting: str
    scores: pd.DataFrame
    availability: dict[str, tuple[bool, str]]
    config: ScoreConfig
    info: dict = field(default_factory=dict)

    def to_df(self) -> pd.DataFrame:
        """Long-by-question table: setting, question_id, one column per method."""
        df = self.scores.reset_index()
        df.insert(0, "setting", self.setting)
        return df


def score(inputs: ScoreInputs, config: ScoreConfig | None = None, methods: list[str] | None = None) -> ScoreResult:
    """Run *methods* (default: all registered) on *inputs*; unavailable methods get NaN and a reason."""
    config = config or ScoreConfig()
    names = list(REGISTRY) if methods is None else list(methods)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; registered: {list(REGISTRY)}")
    ctx = Context(inputs, config)
    cols, avail = {}, {}
    n = inputs.n_q
    for name in names:
        try:
            u = np.asarray(REGISTRY[name].fn(ctx), dtype=np.float64)
        except Unavailable as e:
            cols[name], avail[name] = np.full(n, np.nan), (False, str(e))
            continue
        if u.shape != (n,):
            raise RuntimeError(f"method {name!r} returned shape {u.shape}, expected ({n},)")
        u = np.where(np.isfinite(u), u, np.nan)
        n_nan = int(np.isnan(u).sum())
        if n and n_nan == n:
            avail[name] = (False, "no question had the inputs this method needs")
        elif n_nan:
            avail[name] = (True, f"NaN for {n_nan} of {n} questions (inputs missing for those)")
        else:
            avail[name] = (True, "")
        cols[name] = u
    df = pd.DataFrame(cols, index=pd.Index(inputs.question_ids, name="question_id"))
    return ScoreResult(inputs.setting, df, avail, config)


def cluster_rows(inputs: ScoreInputs, config: ScoreConfig) -> pd.DataFrame:
    """stats/clusters.parquet rows for every rule available (cosine at each tau in config.taus)."""
    ctx = Context(inputs, config)
    frames = []
    taus = sorted(set(map(float, config.taus)) | {float(config.tau)})
    jobs = [("cosine", t) for t in taus] + [("exact", None)]
    if config.nli_model:
        jobs += [("nli_strict", None), ("nli_nocontra", None)]
    for rule, tau in jobs:
        try:
            ids = ctx.clusters(rule, tau)
        except Unavailable:
            continue
        frames.append(clusters_frame(inputs.question_ids, inputs.setting, rule, tau, ids, inputs.counts))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["question_id", "setting", "rule", "tau", "cluster_ids"])


def compute_and_store(run, config: ScoreConfig | None = None, embedder=None) -> ScoreResult:
    """Statistics and scores for every setting of *run*; returns the 'ref' setting's result.

    Writes stats/embeddings.npy + embedding_texts.parquet (only new strings embedded),
    stats/clusters.parquet, scores.parquet and stats/methods.json.
    """
    config = config or ScoreConfig()
    store = run_store(run, embedder)
    settings = sorted(run.table("generations")["setting"].unique(), key=lambda s: (s != REF_SETTING, s))
    results, clusters = {}, []
    for setting in settings:
        inputs = build_inputs(run, setting, store=store)
        results[setting] = score(inputs, config)
        clusters.append(cluster_rows(inputs, config))
    write_table(run.path / "stats" / "clusters.parquet", pd.concat(clusters, ignore_index=True))
    run.write("scores", pd.concat([r.to_df() for r in results.values()], ignore_index=True))
    main = results[settings[0]]
    meta = {}
    for name, m in REGISTRY.items():
        ok, reason = main.availability[name]
        meta[name] = {"family": m.family, "needs": list(m.needs), "description": m.description,
                      "available": ok, "reason": reason}
    run.write_json("stats/methods.json", meta)
    run.set_stage("stats", "done", embeddings=store.report)
    run.set_stage("methods", "done", config=config.to_dict(), settings=settings)
    main.info = {"embeddings": store.report, "settings": settings}
    return main
