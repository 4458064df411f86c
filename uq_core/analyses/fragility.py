"""Fragility: how much each method's ranking and quality move when one hyperparameter changes.

Sweeps, one factor at a time from the reference ScoreConfig and the run's 'ref' generations:
- ``n_samples``   : 2, 5, 10, 20 (those <= the stored m); stored samples are sub-sampled with several
                    seeds and the per-seed figures averaged (interval bounds averaged too).
- ``tau``         : the cosine clustering threshold over ``config.taus``.
- ``rule``        : clustering rule, each paired with its similarity for W: cosine -> config's cosine
                    similarity, exact -> token Jaccard, nli_strict -> nli_entail, nli_nocontra -> nli_nocontra.
- ``temperature`` / ``template`` : other generation settings stored in the run ('temperature=0.3',
                    'template=qa_terse'), compared on the questions common to both settings.
Per method and setting: Kendall tau-b of U against the reference, Jaccard of the top-20% flagged sets
(ties broken by question order), AUROC against that setting's verified labels with a bootstrap 95%
interval; per method the range (max - min) and worst (min) of each over the sweep.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from ..evaluate import N_BOOT, clean_json, metrics_with_ci
from ..methods import ScoreConfig, build_inputs, score, subsample
from ..schema import REF_SETTING
from ..stats.embeddings import run_store

N_SAMPLES = (2, 5, 10, 20)
RULE_SIMILARITY = {"exact": "jaccard", "nli_strict": "nli_entail", "nli_nocontra": "nli_nocontra"}


def top_jaccard(a: np.ndarray, b: np.ndarray, q: float = 0.2) -> float:
    """Jaccard overlap of the top-q fraction (highest U) under a and under b (stable tie order)."""
    n = len(a)
    k = max(1, int(round(q * n)))
    ta = set(np.argsort(-a, kind="stable")[:k])
    tb = set(np.argsort(-b, kind="stable")[:k])
    return len(ta & tb) / len(ta | tb)


def compare(ref: pd.DataFrame, other: pd.DataFrame, labels: pd.Series, methods: list[str],
            n_boot: int = N_BOOT, seed: int = 0, memo: dict | None = None) -> dict[str, dict]:
    """{method: {kendall, jaccard20, auroc, auroc_ci}} of *other* against *ref* on common questions.

    *memo* caches AUROC intervals by score vector: a sweep leaves most methods' scores unchanged.
    """
    memo = {} if memo is None else memo
    common = ref.index.intersection(other.index)
    y = labels.reindex(common).to_numpy(dtype=np.float64)
    A = ref.reindex(common)[methods].to_numpy(dtype=np.float64)
    Bm = other.reindex(common)[methods].to_numpy(dtype=np.float64)
    out = {}
    for i, m in enumerate(methods):
        a, b = A[:, i], Bm[:, i]
        ok = np.isfinite(a) & np.isfinite(b)
        kt = kendalltau(a[ok], b[ok]).statistic if ok.sum() >= 2 else np.nan
        jac = top_jaccard(a[ok], b[ok]) if ok.any() else np.nan
        lab = np.isfinite(b) & np.isfinite(y)
        key = (b[lab].tobytes(), y[lab].tobytes(), n_boot, seed)
        if key in memo:
            auc, ci = memo[key]
        elif lab.sum() >= 2 and 0 < y[lab].mean() < 1:
            mm = metrics_with_ci(b[lab], y[lab], n_boot, seed, rejection=False)
            auc, ci = memo.setdefault(key, (mm["auroc"], mm["auroc_ci"]))
        else:
            auc, ci = np.nan, [np.nan, np.nan]
        out[m] = {"kendall": kt, "jaccard20": jac, "auroc": auc, "auroc_ci": ci}
    return out


def _mean(rows: list[dict[str, dict]], methods: list[str]) -> dict[str, dict]:
    out = {}
    for m in methods:
        def avg(key):
            vals = np.array([r[m][key] for r in rows], dtype=np.float64)
            return float(np.nanmean(vals, axis=0)) if np.isfinite(vals).any() else np.nan
        ci = np.array([r[m]["auroc_ci"] for r in rows], dtype=np.float64)
        out[m] = {"kendall": avg("kendall"), "jaccard20": avg("jaccard20"), "auroc": avg("auroc"),
                  "auroc_ci": (np.nanmean(ci, axis=0).tolist() if np.isfinite(ci).any() else [np.nan, np.nan])}
    return out


def _collect(settings: list, per_setting: list[dict[str, dict]], methods: list[str]) -> dict:
    res = {"settings": settings, "methods": {}}
    for m in methods:
        d = {k: [_num(ps[m][k]) for ps in per_setting] for k in ("kendall", "jaccard20", "auroc")}
        d["auroc_ci"] = [[_num(v) for v in ps[m]["auroc_ci"]] for ps in per_setting]
        for k in ("auroc", "kendall", "jaccard20"):
            vals = np.array([v for v in d[k] if v is not None], dtype=np.float64)
            d[f"range_{k}"] = float(vals.max() - vals.min()) if len(vals) else None
            d[f"worst_{k}"] = float(vals.min()) if len(vals) else None
        res["methods"][m] = d
    return res


def _num(x):
    x = float(x)
    return x if np.isfinite(x) else None


def _mode(s: pd.Series):
    return s.mode().iloc[0] if len(s.dropna()) else None


def fragility_run(run, config: ScoreConfig | None = None, seeds=(0, 1, 2), n_boot: int = N_BOOT,
                  embedder=None, write: bool = True) -> dict:
    """Run every sweep the run supports; writes analyses/fragility.json (see docs/CONTRACTS.md)."""
    config = config or ScoreConfig()
    store = run_store(run, embedder)
    ref_in = build_inputs(run, REF_SETTING, store=store)
    ref_res = score(ref_in, config)
    methods = [n for n, (ok, _) in ref_res.availability.items() if ok]
    ref = ref_res.scores
    labels = pd.Series(ref_in.labels, index=ref.index)
    seed = int(config.seed)
    sweeps, memo = {}, {}

    def vs_ref(inputs, cfg, lab=labels):
        return compare(ref, score(inputs, cfg).scores, lab, methods, n_boot, seed, memo)

    m_max = int(ref_in.counts.max(initial=0))
    ns = [n for n in N_SAMPLES if n <= m_max]
    if ns:
        per = [_mean([vs_ref(subsample(ref_in, n, s), config) for s in seeds], methods) for n in ns]
        sweeps["n_samples"] = _collect(ns, per, methods)

    taus = sorted(set(map(float, config.taus)))
    sweeps["tau"] = _collect(taus, [vs_ref(ref_in, config.replace(rule="cosine", tau=t)) for t in taus], methods)

    rules = ["cosine", "exact"] + (["nli_strict", "nli_nocontra"] if config.nli_model else [])
    cos_sim = config.similarity if config.similarity.startswith("cosine") else "cosine"
    per = [vs_ref(ref_in, config.replace(rule=r, similarity=RULE_SIMILARITY.get(r, cos_sim))) for r in rules]
    sweeps["rule"] = _collect(rules, per, methods)

    gens = run.table("generations")
    ref_g = gens[(gens["setting"] == REF_SETTING) & (gens["kind"] == "sample")]
    ref_value = {"temperature": _mode(ref_g["temperature"]), "template": _mode(ref_g["template_id"])}
    for factor in ("temperature", "template"):
        others = sorted(s for s in gens["setting"].unique() if s.startswith(f"{factor}="))
        if not others:
            continue
        settings = [f"{factor}={ref_value[factor]} (ref)"]
        per = [compare(ref, ref, labels, methods, n_boot, seed, memo)]
        for s in others:
            o_in = build_inputs(run, s, store=store)
            per.append(vs_ref(o_in, config, pd.Series(o_in.labels, index=o_in.question_ids)))
            settings.append(s)
        sweeps[factor] = _collect(settings, per, methods)

    out = clean_json({"reference": {**config.to_dict(), "n_samples": m_max, **ref_value}, "sweeps": sweeps})
    if write:
        run.write_json("analyses/fragility.json", out)
        run.set_stage("fragility", "done")
    return out
