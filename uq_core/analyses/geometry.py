"""Hidden-state geometry: seeded 2D projection and how well confidence vs correctness separate.

Projection: standardise each dimension (z-score), PCA to min(50, dims, n - 1) components, then UMAP
(umap-learn, n_neighbors=15, min_dist=0.1, random_state=seed, n_epochs=200: UMAP's own default for
large data; 500 is its default below 10,000 points and costs ~2.5x the time for no visible change).
"The full space" below is that standardised PCA-50 representation (named ``full_space`` in the JSON).

Separation of a binary labelling (1 = low confidence / wrong): silhouette score (Euclidean, on at most
2,000 seeded points), ARI and NMI between k-means (k = 2, n_init = 10) clusters and the labelling, and the
AUROC of a 5-fold stratified cross-validated logistic-regression probe predicting the labelling
(out-of-fold probabilities; full space only). Confidence labelling: a method's U above its median
(or a given quantile) = low confidence. Correctness labelling: verified wrong vs right.
"""
from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, roc_auc_score, silhouette_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from ..schema import REF_SETTING
from ..store import RunError
from ._load import available_methods, clean, greedy_labels, ref_scores, wrong_indicator

N_PCA = 50
UMAP_PARAMS = {"n_neighbors": 15, "min_dist": 0.1, "n_epochs": 200}
SILHOUETTE_MAX = 2000
FULL_SPACE = "PCA-50 of the standardised vectors"
NAN_SEP = {"silhouette": np.nan, "ari": np.nan, "nmi": np.nan, "probe_auroc": np.nan}


def reduce(X: np.ndarray, seed: int = 0, n_pca: int = N_PCA) -> np.ndarray:
    """float32 (n, min(n_pca, dims, n - 1)): PCA of the z-scored columns of X (n, dims)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 3:
        raise ValueError(f"need a 2-D array with at least 3 rows; got shape {X.shape}")
    X = np.nan_to_num(X, nan=0.0, posinf=0.0, neginf=0.0)
    sd = X.std(axis=0)
    Xs = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    k = max(1, min(n_pca, X.shape[1], X.shape[0] - 1))
    return PCA(k, random_state=seed).fit_transform(Xs).astype(np.float32)


def embed_2d(Z: np.ndarray, seed: int = 0, n_epochs: int = UMAP_PARAMS["n_epochs"]) -> np.ndarray:
    """float32 (n, 2): seeded UMAP of Z (n, d) (n_neighbors = min(15, n - 1))."""
    import umap  # slow import (numba): only when a projection is asked for

    n = Z.shape[0]
    if n < 3:
        raise ValueError(f"UMAP needs at least 3 points; got {n}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by setting random_state"
        reducer = umap.UMAP(n_neighbors=min(UMAP_PARAMS["n_neighbors"], n - 1), min_dist=UMAP_PARAMS["min_dist"],
                            n_epochs=n_epochs, random_state=seed, init="spectral" if n > 10 else "random")
        return reducer.fit_transform(Z).astype(np.float32)


def project(X: np.ndarray, seed: int = 0, n_pca: int = N_PCA) -> np.ndarray:
    """float32 (n, 2): z-score, PCA to min(n_pca, dims, n - 1), then seeded UMAP (see module doc)."""
    return embed_2d(reduce(X, seed, n_pca), seed)


def kmeans2(X: np.ndarray, seed: int = 0) -> np.ndarray:
    """int (n,): k-means (k = 2, n_init = 10, seeded) cluster of each row."""
    return KMeans(2, n_init=10, random_state=seed).fit_predict(X)


def probe_auroc(X: np.ndarray, labels: np.ndarray, seed: int = 0, folds: int = 5) -> float:
    """AUROC of out-of-fold logistic-regression probabilities (stratified k-fold, k = min(folds, minority))."""
    y = np.asarray(labels, dtype=int)
    k = min(folds, int(np.bincount(y, minlength=2).min()))
    if k < 2:
        return float("nan")
    cv = StratifiedKFold(k, shuffle=True, random_state=seed)
    p = cross_val_predict(LogisticRegression(max_iter=2000), X, y, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))


def separation(X: np.ndarray, labels, seed: int = 0, clusters: np.ndarray | None = None,
               probe: bool = True) -> dict:
    """How well a binary labelling separates the points.

    Parameters
    ----------
    X : float (n, d) points. labels : (n,) 0/1 (NaN rows are left out).
    clusters : int (n,) or None
        Precomputed k-means clusters of X (reused across labellings); None = k-means on the kept rows.

    Returns
    -------
    {silhouette, ari, nmi, probe_auroc}; NaN when fewer than 2 points in a class.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows but labels has {y.shape[0]}")
    ok = np.isfinite(y)
    X, y = X[ok], y[ok].astype(int)
    if len(y) < 4 or np.bincount(y, minlength=2).min() < 2:
        return dict(NAN_SEP)
    cl = kmeans2(X, seed) if clusters is None else np.asarray(clusters)[ok]
    n_sil = min(len(y), SILHOUETTE_MAX)
    return {"silhouette": float(silhouette_score(X, y, sample_size=n_sil if n_sil < len(y) else None,
                                                 random_state=seed)),
            "ari": float(adjusted_rand_score(y, cl)), "nmi": float(normalized_mutual_info_score(y, cl)),
            "probe_auroc": probe_auroc(X, y, seed) if probe else float("nan")}


def confidence_labels(u, quantile: float = 0.5) -> np.ndarray:
    """float (n,): 1 = low confidence (U above its *quantile*), 0 = high, NaN where U is NaN.

    Ties at the cut (common for discrete scores such as semantic entropy, where many questions have all-
    different samples) go to whichever side leaves both groups non-empty: ``U > cut`` first, else ``U >= cut``.
    """
    u = np.asarray(u, dtype=np.float64)
    ok = np.isfinite(u)
    out = np.full(u.shape, np.nan)
    if ok.any():
        cut = np.quantile(u[ok], quantile)
        low = u[ok] > cut
        if low.all() or not low.any():
            low = u[ok] >= cut
        out[ok] = low.astype(float)
    return out


def _both(Z: np.ndarray, Y: np.ndarray, y: np.ndarray, km_full: np.ndarray, km_2d: np.ndarray, seed: int) -> dict:
    full = separation(Z, y, seed, km_full, probe=True)
    flat = separation(Y, y, seed, km_2d, probe=False)
    return {"silhouette_full": full["silhouette"], "silhouette_2d": flat["silhouette"], "ari_full": full["ari"],
            "ari_2d": flat["ari"], "nmi_full": full["nmi"], "nmi_2d": flat["nmi"], "probe_auroc": full["probe_auroc"]}


def layer_geometry(X: np.ndarray, uncertainty: pd.DataFrame, wrong: np.ndarray, seed: int = 0,
                   quantile: float = 0.5) -> tuple[np.ndarray, dict]:
    """Project one layer and measure separation for every method and for correctness.

    Parameters
    ----------
    X : float (n, d) points. uncertainty : DataFrame (n, n_methods) U of each point's question.
    wrong : float (n,) 1 wrong / 0 right / NaN unverifiable.

    Returns
    -------
    (Y float (n, 2), {method: {"confidence": {...}, "correctness": {...}}})
    """
    Z = reduce(X, seed)
    Y = embed_2d(Z, seed)
    km_full, km_2d = kmeans2(Z, seed), kmeans2(Y, seed)
    corr = _both(Z, Y, np.asarray(wrong, float), km_full, km_2d, seed)
    res = {m: {"confidence": _both(Z, Y, confidence_labels(uncertainty[m].to_numpy(float), quantile),
                                   km_full, km_2d, seed), "correctness": corr} for m in uncertainty.columns}
    return Y, res


def _layers(run) -> tuple[str, list[tuple[str, np.ndarray, list, np.ndarray]]]:
    """(source, [(layer name, X, question_ids per point, sample_index per point)])."""
    idx = run.json("hidden/index.json") if run.has("hidden/index.json") else None
    if idx and idx.get("source", "hidden_states") == "hidden_states" and run.has("hidden/greedy_last.npy"):
        qids = list(idx["question_ids"])
        H = run.array("hidden/greedy_last.npy")
        if H.ndim != 3 or H.shape[0] != len(qids) or H.shape[1] != len(idx["layers"]):
            raise RunError(f"{run.path / 'hidden/greedy_last.npy'}: shape {H.shape} does not match index.json "
                           f"({len(qids)} questions, {len(idx['layers'])} layers)")
        out = [(f"L{layer}", H[:, i, :], qids, np.full(len(qids), -1)) for i, layer in enumerate(idx["layers"])]
        if run.has("hidden/samples_last.npy"):
            S = run.array("hidden/samples_last.npy")
            n_q, m = S.shape[:2]
            out.append(("samples", S.reshape(n_q * m, -1), list(np.repeat(qids, m)), np.tile(np.arange(m), n_q)))
        return "hidden_states", out
    from ..stats.embeddings import load_store

    store = load_store(run)
    if store is None:
        raise RunError(f"{run.path}: neither hidden/ states nor stats/embeddings.npy; run the stats stage first")
    g = run.table("generations")
    g = g[g["setting"] == REF_SETTING]
    gr = g[g["kind"] == "greedy"].drop_duplicates("question_id")
    sm = g[g["kind"] == "sample"].sort_values(["question_id", "index"])
    out = [("embedding", store.vectors[store.rows(gr["text"].fillna("").astype(str))], gr["question_id"].tolist(),
            np.full(len(gr), -1))]
    if len(sm):
        out.append(("samples", store.vectors[store.rows(sm["text"].fillna("").astype(str))],
                    sm["question_id"].tolist(), sm["index"].to_numpy(int)))
    return "answer_embeddings", out


def geometry_run(run, methods: list[str] | None = None, quantile: float = 0.5, seed: int | None = None) -> dict:
    """Project every stored layer (+ samples) and measure separation; writes geometry.json and umap.parquet.

    Extra keys beyond the contract: "full_space", "umap" (parameters), "n_points" and "seconds" per layer.
    """
    seed = int(run.manifest.get("seed", 0) if seed is None else seed)
    scores = ref_scores(run)
    avail = available_methods(run, scores)
    methods = avail if methods is None else list(methods)
    bad = [m for m in methods if m not in avail]
    if bad:
        raise RunError(f"{run.path}: method(s) not available in scores.parquet: {', '.join(bad)}")
    q_wrong = wrong_indicator(greedy_labels(run))
    sample_wrong = _sample_wrong(run)
    source, layers = _layers(run)
    out_layers, frames, n_points, seconds = {}, [], {}, {}
    for name, X, qids, sidx in layers:
        t0 = time.perf_counter()
        unc = scores.reindex(qids)[methods].reset_index(drop=True)
        if name == "samples":
            wrong = np.array([sample_wrong.get((q, int(j)), np.nan) for q, j in zip(qids, sidx)])
        else:
            wrong = q_wrong.reindex(qids).to_numpy(float)
        Y, res = layer_geometry(np.asarray(X, np.float32), unc, wrong, seed, quantile)
        out_layers[name] = res
        frames.append(pd.DataFrame({"question_id": qids, "layer": name, "sample_index": np.asarray(sidx, int),
                                    "x": Y[:, 0], "y": Y[:, 1]}))
        n_points[name], seconds[name] = len(qids), round(time.perf_counter() - t0, 2)
    split = "median" if quantile == 0.5 else f"quantile {quantile}"
    out = clean({"source": source, "split": split, "layers": out_layers, "full_space": FULL_SPACE,
                 "umap": {**UMAP_PARAMS, "n_pca": N_PCA, "random_state": seed}, "n_points": n_points,
                 "seconds": seconds})
    from ..store import write_table

    write_table(run.path / "analyses/umap.parquet", pd.concat(frames, ignore_index=True))
    run.write_json("analyses/geometry.json", out)
    return out


def _sample_wrong(run) -> dict:
    v = run.table("verification")
    v = v[(v["setting"] == REF_SETTING) & (v["kind"] == "sample")]
    w = v["label"].map({"right": 0.0, "wrong": 1.0})
    return {(q, int(i)): x for q, i, x in zip(v["question_id"], v["index"], w)}


def summary_geometry(geometry: dict) -> dict:
    """What `summary --json` shows: {layer: {method: {"confidence": {...}, "correctness": {...}}}}."""
    return {layer: {m: {k: dict(d.get(k, {})) for k in ("confidence", "correctness")} for m, d in ms.items()}
            for layer, ms in geometry.get("layers", {}).items()}
