"""Build a small synthetic run directory that follows docs/CONTRACTS.md exactly.

The UI is developed and tested against it before the real pipeline exists. Every table,
the hidden arrays, ``stats/`` and every ``analyses/*.json`` are written with the contract's
shapes; the analyses are computed from the synthetic data (simple versions), not typed in.
Texts include HTML/script fragments so that escaping is exercised.

Usage: ``python tests/make_fixture_run.py OUT_DIR [--n 40] [--seed 0]``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps
from sklearn.cluster import KMeans
from sklearn.metrics import (adjusted_rand_score, average_precision_score, cohen_kappa_score,
                             normalized_mutual_info_score, roc_curve, silhouette_score)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from uq_core.schema import GENERATION_COLUMNS, SELF_EVAL_COLUMNS, VERIFICATION_COLUMNS  # noqa: E402
from uq_core.store import Run  # noqa: E402

METHODS = {
    "semantic_entropy": ("consistency", "Discrete semantic entropy over cosine clusters"),
    "eigv": ("graph", "Sum of max(0, 1 - lambda) of the normalised Laplacian"),
    "p_true": ("self_eval", "1 - P(True) of the greedy answer"),
    "verbalized": ("self_eval", "1 - verbalized confidence / 100"),
    "msp": ("token_prob", "-log p(greedy answer)"),
    "mean_token_entropy": ("token_prob", "Mean token entropy (top-5)"),
}
UNAVAILABLE = {"mean_token_entropy": "back end returned no top log-probs"}
CITIES = ["Paris", "Lyon", "Berlin", "Bonn", "Rome", "Milan", "Oslo", "Bergen", "Lima", "Cusco"]
M = 5
LAYERS = [4, 8]


def _auroc(u, wrong):
    ok = ~np.isnan(u)
    if ok.sum() < 2 or len(set(wrong[ok])) < 2:
        return None
    u, y = u[ok], wrong[ok]
    r = sps.rankdata(u)
    npos = y.sum()
    return float((r[y == 1].sum() - npos * (npos + 1) / 2) / (npos * (len(y) - npos)))


def _probe(x, y, folds=4):
    """Out-of-fold nearest-centroid projection score -> AUROC (a cheap linear probe)."""
    s = np.zeros(len(y))
    idx = np.arange(len(y))
    for f in range(folds):
        te, tr = idx % folds == f, idx % folds != f
        if len(set(y[tr])) < 2:
            return None
        w = x[tr][y[tr] == 1].mean(0) - x[tr][y[tr] == 0].mean(0)
        s[te] = x[te] @ w
    return _auroc(s, y)


def _boot(u, wrong, rng, n=100):
    vals = []
    for _ in range(n):
        i = rng.integers(0, len(u), len(u))
        a = _auroc(u[i], wrong[i])
        if a is not None:
            vals.append(a)
    return [float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))] if vals else [None, None]


def _rac(u, right):
    order = np.argsort(u, kind="stable")
    acc = np.cumsum(right[order]) / np.arange(1, len(u) + 1)
    kept = np.arange(1, len(u) + 1) / len(u)
    return kept, acc


def _prr(u, right):
    _, acc = _rac(u, right)
    _, oracle = _rac(-right.astype(float), right)
    base = right.mean()
    den = oracle.mean() - base
    return float((acc.mean() - base) / den) if den > 0 else None


def _topset(u, q):
    k = max(1, int(round(len(u) * q / 100)))
    return set(np.argsort(-u, kind="stable")[:k])


def _jacc(a, b):
    return len(a & b) / len(a | b) if a | b else 1.0


def build_fixture_run(out: Path, n: int = 40, seed: int = 0) -> Path:
    """Write a synthetic run with *n* questions to *out*; returns the path. Shapes follow CONTRACTS."""
    rng = np.random.default_rng(seed)
    out = Path(out)
    run = Run.create(out, config={"n_samples": M, "temperature": 1.0, "template": "qa_default", "fixture": True},
                     model="fixture-model", datasets=["capitals", "gsm8k", "humaneval"], seed=seed)
    ds = np.array(["capitals"] * (n // 2) + ["gsm8k"] * (n - n // 2 - 4) + ["humaneval"] * 4)
    ids = [f"{d}/{i}" if d != "humaneval" else f"humaneval/HumanEval/{i}" for i, d in enumerate(ds)]
    consensus = rng.uniform(0, 1, n)                    # how much the samples agree
    right = rng.uniform(0, 1, n) < 0.15 + 0.7 * consensus  # weakly tied to consensus
    verifier = {"capitals": "alias", "gsm8k": "numeric", "humaneval": "unit_test"}
    qrows, grows, vrows, crows = [], [], [], []
    for i, (qid, d) in enumerate(zip(ids, ds)):
        if d == "capitals":
            text, refs, pool = f"What is the capital of <b>Land {i}</b>?", [CITIES[i % 10]], CITIES
        elif d == "gsm8k":
            text, refs, pool = f"Sam has {i} apples & buys 3 more. How many?", [str(i + 3)], [str(i + k) for k in range(6)]
        else:
            text, refs, pool = f"def f{i}(x):\n    \"\"\"Return x + 1.\"\"\"", ["    return x + 1"], ["    return x + 1",
                                                                                          "    return x", "    pass"]
        payload = {"prompt": text, "tests": "assert f(1) == 2", "entry_point": f"f{i}"} if d == "humaneval" else {}
        qrows.append([qid, d, text, refs, verifier[d], json.dumps(payload), json.dumps({"fixture": True})])
        n_clusters = 1 + int((1 - consensus[i]) * 4)
        cids = np.sort(rng.integers(0, n_clusters, M))
        cids = np.unique(cids, return_inverse=True)[1]
        ans = [pool[(i + c) % len(pool)] for c in range(n_clusters)]
        greedy = refs[0] if right[i] else ans[-1] if ans[-1] != refs[0] else pool[(i + 7) % len(pool)]
        if i == 3:
            greedy = '<script>alert("x")</script> Paris'
        texts = [greedy] + [ans[c] for c in cids]
        for setting in ("ref", "temperature=1.0"):
            for k, t in enumerate(texts):
                kind, idx = ("greedy", 0) if k == 0 else ("sample", k - 1)
                lp = list(rng.normal(-0.3 - (1 - consensus[i]), 0.2, 3).round(3))
                grows.append([qid, setting, kind, idx, t, lp, [[v, v - 1, v - 2, v - 3, v - 4] for v in lp], 3,
                              "stop", 0.0 if kind == "greedy" else 1.0, 1.0, "qa_default", seed])
                ok = t.strip() == refs[0].strip()
                label = "right" if ok else "wrong"
                if i == 5 and kind == "greedy":
                    label = "unverifiable"
                rule = ("unit_test:pass" if ok else "unit_test:fail") if d == "humaneval" else \
                    ("exact" if ok else "numeric" if d == "gsm8k" else "token_f1")
                ev = "" if ok else ("Traceback (most recent call last):\n  AssertionError: f(1) == 2 failed"
                                    if d == "humaneval" else f"no alias of {refs} in answer")
                vrows.append([qid, setting, kind, idx, label, rule, ev])
            for rule, tau in (("cosine", 0.85), ("exact", float("nan"))):
                crows.append([qid, setting, rule, tau, [int(c) for c in cids]])
    questions = pd.DataFrame(qrows, columns=["id", "dataset", "text", "references", "verifier", "payload", "metadata"])
    gens = pd.DataFrame(grows, columns=GENERATION_COLUMNS)
    ver = pd.DataFrame(vrows, columns=VERIFICATION_COLUMNS)
    run.write("questions", questions)
    run.write("generations", gens)
    run.write("verification", ver)
    greedy_label = ver[(ver.setting == "ref") & (ver.kind == "greedy")].set_index("question_id").label.loc[ids].to_numpy()
    right = greedy_label == "right"

    # self-evaluation
    p_true = np.clip(0.3 + 0.6 * consensus + rng.normal(0, 0.1, n), 0.01, 0.99)
    verb = np.round(np.clip(100 * consensus + rng.normal(0, 15, n), 0, 100))
    verb[rng.uniform(size=n) < 0.1] = np.nan
    run.write("self_eval", pd.DataFrame({
        "question_id": ids, "p_true": p_true, "p_true_raw": [f" A ({p:.2f})" for p in p_true],
        "verbalized": verb, "verbalized_raw": ["I'd say <i>%s</i>" % ("?" if np.isnan(v) else int(v)) for v in verb]},
        columns=SELF_EVAL_COLUMNS))

    # stats
    uniq = sorted(set(gens.text))
    emb = rng.normal(0, 1, (len(uniq), 384))
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    run.write_array("stats/embeddings.npy", emb.astype(np.float16))
    run.write("stats/embedding_texts", pd.DataFrame({"text": uniq}))
    run.write("stats/clusters", pd.DataFrame(crows, columns=["question_id", "setting", "rule", "tau", "cluster_ids"]))
    run.write_json("stats/methods.json", {m: {"family": f, "needs": [], "description": d, "available": m not in UNAVAILABLE,
                                               "reason": UNAVAILABLE.get(m, "")} for m, (f, d) in METHODS.items()})

    # scores (uncertainty) for each setting
    def scores_for(noise):
        cl = pd.DataFrame(crows)
        sizes = [np.bincount(c) / M for c in cl[(cl[1] == "ref") & (cl[2] == "cosine")][4]]
        se = np.array([-(p * np.log(p)).sum() for p in sizes])
        return {"semantic_entropy": se + rng.normal(0, noise, n), "eigv": 1 + se * 1.3 + rng.normal(0, 0.2 + noise, n),
                "p_true": 1 - p_true + rng.normal(0, noise, n), "verbalized": 1 - verb / 100,
                "msp": 1.5 - consensus + rng.normal(0, 0.3 + noise, n), "mean_token_entropy": np.full(n, np.nan)}
    ref_scores = scores_for(0.0)
    srows = [pd.DataFrame({"setting": "ref", "question_id": ids, **ref_scores})]
    srows.append(pd.DataFrame({"setting": "temperature=1.0", "question_id": ids, **scores_for(0.3)}))
    run.write("scores", pd.concat(srows, ignore_index=True))

    # hidden states: separate by consensus (confidence), barely by correctness
    hid = 16
    base = np.outer(consensus - 0.5, rng.normal(0, 1, hid)) * 4
    last = np.stack([base + rng.normal(0, 0.5, (n, hid)) for _ in LAYERS], axis=1)
    run.write_array("hidden/greedy_last.npy", last.astype(np.float16))
    run.write_array("hidden/greedy_mean.npy", (last * 0.8).astype(np.float16))
    run.write_array("hidden/samples_last.npy", (last[:, -1:, :] + rng.normal(0, 0.3, (n, M, hid))).astype(np.float16))
    run.write_json("hidden/index.json", {"question_ids": ids, "layers": LAYERS, "sample_layer": LAYERS[-1],
                                         "source": "hidden_states"})
    _write_analyses(run, ids, ds, right, greedy_label, ref_scores, last, crows, gens, ver, rng)
    for stage in ("generate", "verify", "stats", "methods", "analyses"):
        run.set_stage(stage, "done")
    return out


def _write_analyses(run, ids, ds, right, greedy_label, scores, last, crows, gens, ver, rng):
    lab = greedy_label != "unverifiable"
    wrong = (~right).astype(int)
    ev_methods, curves = {}, {}
    for m, (fam, desc) in METHODS.items():
        u = scores[m][lab]
        w = wrong[lab]
        avail = m not in UNAVAILABLE
        e = {"available": avail, "reason": UNAVAILABLE.get(m, ""), "family": fam, "description": desc}
        if not avail:
            ev_methods[m] = {**e, **{k: None for k in ("auroc", "auprc", "prr", "aurac", "ece", "brier")},
                             "auroc_ci": [None, None], "auprc_ci": [None, None], "prr_ci": [None, None],
                             "aurac_ci": [None, None], "per_dataset": {}, "worst_dataset": {"name": None, "auroc": None}}
            continue
        ok = ~np.isnan(u)
        u, w = u[ok], w[ok]
        r = 1 - w
        kept, acc = _rac(u, r)
        fpr, tpr, _ = roc_curve(w, u)
        conf = 1 - sps.rankdata(u) / len(u)
        bins = np.clip((conf * 5).astype(int), 0, 4)
        cal = {"confidence": [], "accuracy": [], "count": []}
        for b in range(5):
            s = bins == b
            if s.any():
                cal["confidence"].append(float(conf[s].mean()))
                cal["accuracy"].append(float(r[s].mean()))
                cal["count"].append(int(s.sum()))
        ece = sum(c * abs(a - p) for p, a, c in zip(cal["confidence"], cal["accuracy"], cal["count"])) / len(u)
        low = np.argsort(u, kind="stable")
        e.update(auroc=_auroc(u, w), auroc_ci=_boot(u, w, rng), auprc=float(average_precision_score(w, u)),
                 auprc_ci=[None, None], prr=_prr(u, r), prr_ci=[None, None], aurac=float(acc.mean()),
                 aurac_ci=[None, None], ece=float(ece), brier=float(np.mean((conf - r) ** 2)))
        for q in (10, 20):
            k = max(1, int(round(len(u) * q / 100)))
            e[f"ch_rate_{q}"], e[f"ch_count_{q}"], e[f"ch_n_{q}"] = float(w[low[:k]].mean()), int(w[low[:k]].sum()), k
        per = {}
        dsl = ds[lab][ok]
        for d in sorted(set(ds)):
            s = dsl == d
            per[d] = {"n": int(s.sum()), "accuracy": float(r[s].mean()), "auroc": _auroc(u[s], w[s]),
                      "auroc_ci": _boot(u[s], w[s], rng, 30)}
        worst = min((d for d in per if per[d]["auroc"] is not None), key=lambda d: per[d]["auroc"])
        e["per_dataset"], e["worst_dataset"] = per, {"name": worst, "auroc": per[worst]["auroc"]}
        ev_methods[m] = e
        curves[m] = {"roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
                     "rac": {"kept": kept.tolist(), "accuracy": acc.tolist()}, "calibration": cal}
    run.write_json("analyses/evaluation.json", {
        "label_source": "verifier", "n_questions": len(ids), "n_labelled": int(lab.sum()),
        "accuracy": float(right[lab].mean()),
        "accuracy_by_dataset": {d: float(right[lab & (ds == d)].mean()) for d in sorted(set(ds))},
        "methods": ev_methods})
    run.write_json("analyses/curves.json", curves)

    avail = [m for m in METHODS if m not in UNAVAILABLE]
    filled = {m: np.nan_to_num(scores[m], nan=np.nanmedian(scores[m])) for m in avail}
    ov = {"q": [10, 20, 30], "methods": avail, "overlap": {}, "random": {}, "flagged": {}}
    for q in (10, 20, 30):
        sets = {m: _topset(filled[m], q) for m in avail}
        ov["overlap"][str(q)] = {f"{a}|{b}": _jacc(sets[a], sets[b]) for i, a in enumerate(avail) for b in avail[i + 1:]}
        ov["random"][str(q)] = (q / 100) / (2 - q / 100)
        ov["flagged"][str(q)] = {m: [ids[j] for j in sorted(sets[m])] for m in avail}
    for name, fn in (("spearman", sps.spearmanr), ("kendall", sps.kendalltau)):
        mat = [[1.0 if a == b else float(fn(filled[a], filled[b])[0]) for b in avail] for a in avail]
        ov[name] = {"methods": avail, "matrix": mat}
    run.write_json("analyses/overlap.json", ov)

    # geometry + umap (2D = PCA here)
    layers, urows = {}, []
    for li, layer in enumerate(LAYERS):
        x = last[:, li, :]
        xc = x - x.mean(0)
        xy = xc @ np.linalg.svd(xc, full_matrices=False)[2][:2].T
        for j, qid in enumerate(ids):
            urows.append([qid, f"L{layer}", -1, float(xy[j, 0]), float(xy[j, 1])])
        km = {k: KMeans(2, n_init=4, random_state=0).fit_predict(v) for k, v in (("full", x), ("2d", xy))}
        per_m = {}
        for m in avail:
            conf = (filled[m] <= np.median(filled[m])).astype(int)
            res = {}
            for what, y in (("confidence", conf), ("correctness", right.astype(int))):
                d = {}
                for k, v in (("full", x), ("2d", xy)):
                    d[f"silhouette_{k}"] = float(silhouette_score(v, y)) if len(set(y)) > 1 else None
                    d[f"ari_{k}"] = float(adjusted_rand_score(y, km[k]))
                    d[f"nmi_{k}"] = float(normalized_mutual_info_score(y, km[k]))
                d["probe_auroc"] = _probe(x, y)
                res[what] = d
            per_m[m] = res
        layers[f"L{layer}"] = per_m
    samples = run.array("hidden/samples_last.npy").astype(float)
    flat = samples.reshape(-1, samples.shape[-1])
    flat = flat - flat.mean(0)
    sxy = flat @ np.linalg.svd(flat, full_matrices=False)[2][:2].T
    for j, qid in enumerate(ids):
        for k in range(M):
            urows.append([qid, "samples", k, float(sxy[j * M + k, 0]), float(sxy[j * M + k, 1])])
    run.write_json("analyses/geometry.json", {"source": "hidden_states", "split": "median", "layers": layers})
    run.write("analyses/umap", pd.DataFrame(urows, columns=["question_id", "layer", "sample_index", "x", "y"]))
    _write_fragility(run, ids, wrong, lab, filled, avail, rng)
    _write_conformal_judge(run, ids, right, lab, filled, avail, crows, gens, ver, rng)


def _write_fragility(run, ids, wrong, lab, filled, avail, rng):
    sweeps = {"n_samples": [2, 3, 5], "tau": [0.7, 0.8, 0.85, 0.9], "temperature": [0.3, 1.0]}
    out = {"reference": {"n_samples": M, "tau": 0.85, "temperature": 1.0}, "sweeps": {}}
    for sw, settings in sweeps.items():
        meth = {}
        for m in avail:
            d = {"kendall": [], "jaccard20": [], "auroc": [], "auroc_ci": []}
            for s_i, _ in enumerate(settings):
                noise = 0.0 if s_i == len(settings) - 1 else 0.5 / (s_i + 1)
                u = filled[m] + rng.normal(0, noise * filled[m].std() + 1e-12, len(ids))
                d["kendall"].append(float(sps.kendalltau(u, filled[m])[0]))
                d["jaccard20"].append(_jacc(_topset(u, 20), _topset(filled[m], 20)))
                d["auroc"].append(_auroc(u[lab], wrong[lab]))
                d["auroc_ci"].append(_boot(u[lab], wrong[lab], rng, 30))
            for k in ("auroc", "kendall", "jaccard20"):
                d[f"range_{k}"] = float(max(d[k]) - min(d[k]))
                d[f"worst_{k}"] = float(min(d[k]))
            meth[m] = d
        out["sweeps"][sw] = {"settings": settings, "methods": meth}
    run.write_json("analyses/fragility.json", out)


def _write_conformal_judge(run, ids, right, lab, filled, avail, crows, gens, ver, rng):
    cl = pd.DataFrame(crows, columns=["question_id", "setting", "rule", "tau", "cluster_ids"])
    cl = cl[(cl.setting == "ref") & (cl.rule == "cosine")].set_index("question_id")
    sv = ver[(ver.setting == "ref") & (ver.kind == "sample")]
    qscore, sizes_by_q = {}, {}
    for qid in ids:
        c = np.asarray(cl.loc[qid, "cluster_ids"])
        freq = np.bincount(c) / len(c)
        labels = sv[sv.question_id == qid].sort_values("index").label.to_numpy()
        ok = [1 - freq[c[k]] for k in range(len(c)) if labels[k] == "right"]
        qscore[qid] = min(ok) if ok else None
        sizes_by_q[qid] = 1 - freq
    cover = [q for q in ids if qscore[q] is not None]
    alphas = [0.05, 0.1, 0.2, 0.3]
    res = {"coverage": [], "coverage_sd": [], "mean_set_size": [], "set_size_right": [], "set_size_wrong": []}
    n_splits = 20
    rmap = dict(zip(ids, right))
    for a in alphas:
        covs, sz, szr, szw = [], [], [], []
        for _ in range(n_splits):
            perm = rng.permutation(cover)
            cal, test = perm[: len(perm) // 2], perm[len(perm) // 2:]
            s = np.sort([qscore[q] for q in cal])
            k = min(len(s) - 1, int(np.ceil((len(s) + 1) * (1 - a))) - 1)
            qh = s[k]
            covs.append(np.mean([qscore[q] <= qh for q in test]))
            sizes = {q: int((np.unique(sizes_by_q[q]) <= qh + 1e-12).sum()) for q in test}
            sz.append(np.mean(list(sizes.values())))
            szr.append(np.mean([v for q, v in sizes.items() if rmap[q]] or [np.nan]))
            szw.append(np.mean([v for q, v in sizes.items() if not rmap[q]] or [np.nan]))
        for key, v in (("coverage", np.mean(covs)), ("coverage_sd", np.std(covs)), ("mean_set_size", np.mean(sz)),
                       ("set_size_right", np.nanmean(szr)), ("set_size_wrong", np.nanmean(szw))):
            res[key].append(float(v))
    grid = []
    m0 = avail[0]
    for eps in (0.2, 0.3, 0.4):
        for delta in (0.1, 0.2):
            u, r = filled[m0][lab], right[lab]
            thr = float(np.quantile(u, 0.5))
            ans = u <= thr
            grid.append({"epsilon": eps, "delta": delta, "threshold": thr, "achieved_risk": float(1 - r[ans].mean()),
                         "fraction_answered": float(ans.mean()), "violation_rate": float(1 - r[ans].mean() > eps)})
    run.write_json("analyses/conformal.json", {
        "n_splits": n_splits, "alphas": alphas,
        "scores": {"frequency": {"description": "1 - frequency of the answer's cosine cluster", **res}},
        "n_coverable": len(cover), "uncoverable": {"count": len(ids) - len(cover),
                                                   "question_ids": [q for q in ids if qscore[q] is None]},
        "risk_control": {"method": m0, "grid": grid}})
    judge = right[lab] ^ (rng.uniform(size=lab.sum()) < 0.15)
    w, jw = (~right[lab]).astype(int), (~judge).astype(int)
    run.write_json("analyses/judge.json", {
        "available": True, "reason": "", "judge": "fixture-judge", "accuracy": float((judge == right[lab]).mean()),
        "kappa": float(cohen_kappa_score(judge, right[lab])), "n": int(lab.sum()),
        "methods": {m: {"auroc_verified": _auroc(filled[m][lab], w), "auroc_judge": _auroc(filled[m][lab], jw)}
                    for m in avail}})


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(build_fixture_run(a.out, a.n, a.seed))
