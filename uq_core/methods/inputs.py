"""Scoring configuration and padded inputs built from a stored run (no model call)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..schema import REF_SETTING
from ..stats.clustering import DEFAULT_TAUS, RULES
from ..stats.embeddings import EmbeddingStore, run_store
from ..stats.similarity import SIMILARITIES

ECC_VARIANTS = ("l2", "l1", "row_centred")


@dataclass(frozen=True)
class ScoreConfig:
    """Hyperparameters of scoring. ``tau`` applies to the raw cosine (rule 'cosine').

    eccentricity_variant: 'l2' (REFERENCE: L2 norm of per-answer distances to the centroid),
    'l1' (their sum), 'row_centred' (zlin7/UQ-NLG code: each answer's own coordinate vector is
    centred on its mean). ``nli_model``: local cross-encoder directory for NLI rules/similarities.
    ``probe_layer``: layer value from hidden/index.json (None = the middle stored layer).
    """
    rule: str = "cosine"
    tau: float = 0.85
    similarity: str = "cosine"
    eccentricity_variant: str = "l2"
    eig_threshold: float = 0.9
    probe_layer: int | None = None
    probe_folds: int = 5
    seed: int = 0
    nli_model: str | None = None
    taus: tuple[float, ...] = DEFAULT_TAUS

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"ScoreConfig.rule={self.rule!r}; expected one of {RULES}")
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"ScoreConfig.similarity={self.similarity!r}; expected one of {list(SIMILARITIES)}")
        if self.eccentricity_variant not in ECC_VARIANTS:
            raise ValueError(f"ScoreConfig.eccentricity_variant={self.eccentricity_variant!r}; "
                             f"expected one of {ECC_VARIANTS}")
        if not -1.0 < float(self.tau) <= 1.0:
            raise ValueError(f"ScoreConfig.tau={self.tau}; a cosine threshold must lie in (-1, 1]")
        if not 0.0 < float(self.eig_threshold) <= 2.0:
            raise ValueError(f"ScoreConfig.eig_threshold={self.eig_threshold}; Laplacian eigenvalues lie in [0, 2]")
        if int(self.probe_folds) < 2:
            raise ValueError(f"ScoreConfig.probe_folds={self.probe_folds}; need at least 2 folds")

    def replace(self, **kw) -> "ScoreConfig":
        return dataclasses.replace(self, **kw)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["taus"] = list(self.taus)
        return d


@dataclass
class ScoreInputs:
    """Everything the methods read for one setting, padded to arrays. n_q questions, m samples, L tokens.

    Attributes
    ----------
    question_ids : list[str] (n_q)
    datasets : object (n_q)
    greedy_text : object (n_q); '' where there is no greedy answer
    greedy_lp : float (n_q, L) chosen-token log-probs of the greedy answer, NaN-padded (row all NaN = n/a)
    greedy_top : float (n_q, L, k) top-k log-probs per greedy token, NaN-padded
    sample_text : object (n_q, m); samples of q are the prefix [:counts[q]]
    counts : int (n_q)
    sample_lp_sum, sample_len : float (n_q, m) sum of token log-probs and token count (len 0 = n/a)
    sample_rows, greedy_rows : int, rows into ``vectors`` (-1 = none)
    vectors : float32 (n_unique, dim) L2-normalised embeddings, or None
    p_true, verbalized : float (n_q), NaN = missing; ``self_eval_reason`` when absent altogether
    hidden : float32 (n_q, n_layers, H) greedy last-token states or None; ``hidden_layers``, ``hidden_reason``
    labels : float (n_q): 1 right, 0 wrong, NaN unverifiable / missing
    cache : shared statistics computed once (see context.py)
    """
    setting: str
    question_ids: list[str]
    datasets: np.ndarray
    greedy_text: np.ndarray
    greedy_lp: np.ndarray
    greedy_top: np.ndarray
    sample_text: np.ndarray
    counts: np.ndarray
    sample_lp_sum: np.ndarray
    sample_len: np.ndarray
    sample_rows: np.ndarray
    greedy_rows: np.ndarray
    vectors: np.ndarray | None
    p_true: np.ndarray
    verbalized: np.ndarray
    labels: np.ndarray
    self_eval_reason: str | None = None
    hidden: np.ndarray | None = None
    hidden_layers: list = field(default_factory=list)
    hidden_reason: str | None = "no hidden states in this run"
    hidden_source: str | None = None
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_q(self) -> int:
        return len(self.question_ids)

    @property
    def mask(self) -> np.ndarray:
        """Valid samples, bool (n_q, m)."""
        return np.arange(self.sample_text.shape[1])[None, :] < self.counts[:, None]


def _pad_lists(lists: list) -> np.ndarray:
    lens = np.array([len(x) for x in lists], dtype=np.int64)
    out = np.full((len(lists), max(int(lens.max(initial=0)), 1)), np.nan)
    if lens.sum():
        out[np.repeat(np.arange(len(lists)), lens), np.concatenate([np.arange(n) for n in lens])] = \
            np.concatenate([np.asarray(x, dtype=np.float64) for x in lists if len(x)])
    return out


def _pad_top(lists: list) -> np.ndarray:
    """(n, L, k) NaN-padded array from per-answer lists of per-token top-k log-prob lists (ragged ok)."""
    L = max([len(x) for x in lists] + [1])
    k = max([len(t) for x in lists for t in x] + [1])
    out = np.full((len(lists), L, k), np.nan)
    flat = [(i, j, t) for i, x in enumerate(lists) for j, t in enumerate(x) if len(t)]
    if flat:
        lens = np.array([len(t) for _, _, t in flat])
        out[np.repeat([i for i, _, _ in flat], lens), np.repeat([j for _, j, _ in flat], lens),
            np.concatenate([np.arange(n) for n in lens])] = np.concatenate([np.asarray(t, float) for _, _, t in flat])
    return out


def build_inputs(run, setting: str = REF_SETTING, embedder=None, n_samples: int | None = None,
                 subsample_seed: int = 0, store: EmbeddingStore | None = None) -> ScoreInputs:
    """Padded :class:`ScoreInputs` for one *setting* of *run*.

    Parameters
    ----------
    run : uq_core.store.Run
    setting : str
        Value of the generations table's 'setting' column.
    embedder : callable or None
        list[str] -> (n, dim) normalised embeddings, used only for strings not yet in stats/.
    n_samples : int or None
        Keep a random subset of this many samples per question (fragility); None = all.
    store : EmbeddingStore or None
        Pre-loaded embeddings (skips reading stats/).
    """
    gens = run.table("generations")
    settings = sorted(gens["setting"].unique())
    g = gens[gens["setting"] == setting]
    if g.empty:
        raise ValueError(f"run {run.name!r} has no generations for setting {setting!r}; it has {settings}")
    qs = run.table("questions")
    present = set(g["question_id"])
    qs = qs[qs["id"].isin(present)]
    qids = qs["id"].astype(str).tolist()
    pos = {q: i for i, q in enumerate(qids)}
    n_q = len(qids)
    store = store or run_store(run, embedder)

    gr = g[g["kind"] == "greedy"].drop_duplicates("question_id")
    gi = gr["question_id"].map(pos).to_numpy()
    greedy_text = np.full(n_q, "", dtype=object)
    greedy_text[gi] = gr["text"].fillna("").astype(str).to_numpy()
    lp_lists = [[] for _ in range(n_q)]
    top_lists = [[] for _ in range(n_q)]
    for i, lp, top in zip(gi, gr["token_logprobs"], gr["top_logprobs"]):
        lp_lists[i] = [] if lp is None else list(lp)
        top_lists[i] = [] if top is None else list(top)
    greedy_rows = np.full(n_q, -1, dtype=np.int64)
    greedy_rows[gi] = store.rows(greedy_text[gi])

    s = g[g["kind"] == "sample"].sort_values(["question_id", "index"])
    si = s["question_id"].map(pos).to_numpy()
    col = s.groupby("question_id").cumcount().to_numpy()
    counts = np.bincount(si, minlength=n_q).astype(np.int64)
    m = max(int(counts.max(initial=0)), 1)
    sample_text = np.full((n_q, m), "", dtype=object)
    sample_text[si, col] = s["text"].fillna("").astype(str).to_numpy()
    sample_rows = np.full((n_q, m), -1, dtype=np.int64)
    sample_rows[si, col] = store.rows(sample_text[si, col])
    lens = np.array([0 if x is None else len(x) for x in s["token_logprobs"]], dtype=np.float64)
    sums = np.array([np.sum(x) if x is not None and len(x) else np.nan for x in s["token_logprobs"]])
    sample_len = np.zeros((n_q, m))
    sample_lp_sum = np.full((n_q, m), np.nan)
    sample_len[si, col], sample_lp_sum[si, col] = lens, sums

    labels = np.full(n_q, np.nan)
    if run.has("verification.parquet"):
        v = run.table("verification")
        v = v[(v["setting"] == setting) & (v["kind"] == "greedy") & v["question_id"].isin(pos)]
        lab = v["label"].map({"right": 1.0, "wrong": 0.0}).to_numpy(dtype=np.float64)
        labels[v["question_id"].map(pos).to_numpy()] = lab

    p_true = np.full(n_q, np.nan)
    verbalized = np.full(n_q, np.nan)
    se_reason = None
    if setting != REF_SETTING:
        se_reason = f"self-evaluation is recorded for setting {REF_SETTING!r} only"
    elif not run.has("self_eval.parquet"):
        se_reason = "the run has no self_eval table"
    else:
        se = run.table("self_eval")
        se = se[se["question_id"].isin(pos)]
        idx = se["question_id"].map(pos).to_numpy()
        p_true[idx] = pd.to_numeric(se["p_true"], errors="coerce").to_numpy(dtype=np.float64)
        verbalized[idx] = pd.to_numeric(se["verbalized"], errors="coerce").to_numpy(dtype=np.float64)

    inputs = ScoreInputs(
        setting=setting, question_ids=qids, datasets=qs["dataset"].astype(str).to_numpy(dtype=object),
        greedy_text=greedy_text, greedy_lp=_pad_lists(lp_lists), greedy_top=_pad_top(top_lists),
        sample_text=sample_text, counts=counts, sample_lp_sum=sample_lp_sum, sample_len=sample_len,
        sample_rows=sample_rows, greedy_rows=greedy_rows, vectors=store.vectors, p_true=p_true,
        verbalized=verbalized, labels=labels, self_eval_reason=se_reason)
    _attach_hidden(run, inputs)
    if n_samples is not None:
        inputs = subsample(inputs, n_samples, subsample_seed)
    return inputs


def _attach_hidden(run, inputs: ScoreInputs) -> None:
    if inputs.setting != REF_SETTING:
        inputs.hidden_reason = f"hidden states are recorded for setting {REF_SETTING!r} only"
        return
    if not (run.has("hidden/index.json") and run.has("hidden/greedy_last.npy")):
        inputs.hidden_reason = "the run has no hidden/greedy_last.npy (API back ends expose no hidden states)"
        return
    index = run.json("hidden/index.json")
    arr = run.array("hidden/greedy_last.npy")
    hq = [str(q) for q in index.get("question_ids", [])]
    if arr.ndim != 3 or arr.shape[0] != len(hq):
        inputs.hidden_reason = (f"hidden/greedy_last.npy has shape {arr.shape} but index.json lists "
                                f"{len(hq)} questions; expected (n_questions, n_layers, hidden)")
        return
    hpos = {q: i for i, q in enumerate(hq)}
    out = np.full((inputs.n_q,) + arr.shape[1:], np.nan, dtype=np.float32)
    have = np.array([q in hpos for q in inputs.question_ids])
    out[have] = arr[[hpos[q] for q in np.array(inputs.question_ids)[have]]].astype(np.float32)
    inputs.hidden, inputs.hidden_reason = out, None
    inputs.hidden_layers = list(index.get("layers", range(arr.shape[1])))
    inputs.hidden_source = index.get("source")


def subsample(inputs: ScoreInputs, n: int, seed: int = 0) -> ScoreInputs:
    """A copy keeping min(n, counts[q]) random samples per question, in their original order.

    Cached statistics that do not depend on the samples (the hidden-state probe) are kept, and cached
    pairwise matrices (cosine, Jaccard, NLI) are sliced instead of recomputed.
    """
    m = inputs.sample_text.shape[1]
    if n < 1:
        raise ValueError(f"n_samples={n}: need at least 1")
    if n > m:
        raise ValueError(f"n_samples={n} but the run stores at most {m} samples per question")
    rng = np.random.default_rng(seed)
    keys = np.where(inputs.mask, rng.random(inputs.sample_text.shape), np.inf)
    pick = np.sort(np.argsort(keys, axis=1)[:, :n], axis=1)
    counts = np.minimum(inputs.counts, n)
    keep = np.arange(n)[None, :] < counts[:, None]

    def take(a, fill):
        return np.where(keep, np.take_along_axis(a, pick, axis=1), fill)

    def take_pairs(w):
        w = np.take_along_axis(np.take_along_axis(w, pick[:, :, None], axis=1), pick[:, None, :], axis=2)
        w = np.where(keep[:, :, None] & keep[:, None, :], w, 0.0)
        w[:, np.arange(n), np.arange(n)] = np.where(keep, np.diagonal(w, axis1=1, axis2=2), 1.0)
        return w
    cache = {k: v for k, v in inputs.cache.items() if isinstance(k, tuple) and k[0] == "probe"}
    for k in ("cos", "jaccard"):
        if k in inputs.cache:
            cache[k] = take_pairs(inputs.cache[k])
    return dataclasses.replace(
        inputs, sample_text=take(inputs.sample_text, ""), counts=counts,
        sample_lp_sum=take(inputs.sample_lp_sum, np.nan), sample_len=take(inputs.sample_len, 0.0),
        sample_rows=take(inputs.sample_rows, -1), cache=cache)
