"""Per-question similarity matrices between the m sampled answers, as padded (n_q, m, m) stacks.

Valid samples of question q are the prefix ``[:counts[q]]``; padded rows/columns are 0 (diagonal 1).
Similarity functions (the name is what a user picks; each is in [0, 1] with W_ii = 1):

- ``cosine``       : (cos + 1) / 2 of the L2-normalised sentence embeddings ("cosine mapped to [0, 1]").
- ``cosine_clip``  : max(cos, 0).
- ``jaccard``      : token Jaccard |A ∩ B| / |A ∪ B| over sets of normalised word tokens (two empty answers: 1).
- ``nli_entail``   : P(entailment) from a local cross-encoder NLI model, symmetrised (W + W^T) / 2.
- ``nli_nocontra`` : 1 - P(contradiction), symmetrised.
"""
from __future__ import annotations

import os
import re
import string

import numpy as np
from scipy import sparse

SIMILARITIES = {
    "cosine": "(cos + 1) / 2 of MiniLM sentence embeddings",
    "cosine_clip": "max(cos, 0) of MiniLM sentence embeddings",
    "jaccard": "token Jaccard over normalised word sets",
    "nli_entail": "NLI entailment probability, symmetrised",
    "nli_nocontra": "1 - NLI contradiction probability, symmetrised",
}
_PUNCT = re.compile(f"[{re.escape(string.punctuation)}]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalise_text(s: str) -> str:
    """Lower-case, drop punctuation and articles (a, an, the), collapse whitespace."""
    s = _PUNCT.sub(" ", (s or "").lower())
    return " ".join(_ARTICLES.sub(" ", s).split())


def prefix_mask(counts: np.ndarray, m: int) -> np.ndarray:
    """Boolean (n_q, m): True where sample index < counts[q]."""
    return np.arange(m)[None, :] < np.asarray(counts)[:, None]


def _finish(w: np.ndarray, mask: np.ndarray) -> np.ndarray:
    pair = mask[:, :, None] & mask[:, None, :]
    w = np.where(pair, w, 0.0)
    idx = np.arange(w.shape[1])
    w[:, idx, idx] = 1.0
    return w


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """float64 rows scaled to unit length (stored float16 embeddings are only nearly unit length)."""
    v = np.asarray(vectors, dtype=np.float64)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > 0, n, 1.0)


def cosine_stack(rows: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Raw cosine similarities (n_q, m, m) in [-1, 1].

    Parameters
    ----------
    rows : int (n_q, m)
        Row of each sample in *vectors*; -1 = padding.
    vectors : float (n_unique, dim)
        L2-normalised embeddings.
    """
    rows = np.asarray(rows)
    mask = rows >= 0
    e = unit_rows(vectors)[np.where(mask, rows, 0)]
    e = np.where(mask[..., None], e, 0.0)
    cos = np.clip(np.matmul(e, np.swapaxes(e, 1, 2)), -1.0, 1.0)
    return _finish(cos, mask)


def token_sets_matrix(texts: list[str]) -> sparse.csr_matrix:
    """Binary (n_texts, vocab) CSR matrix of each text's normalised token set."""
    vocab: dict[str, int] = {}
    indptr, indices = [0], []
    for t in texts:
        toks = {vocab.setdefault(w, len(vocab)) for w in normalise_text(t).split()}
        indices.extend(sorted(toks))
        indptr.append(len(indices))
    data = np.ones(len(indices), dtype=np.float64)
    return sparse.csr_matrix((data, indices, indptr), shape=(len(texts), max(len(vocab), 1)))


def jaccard_stack(texts: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Token-Jaccard similarity (n_q, m, m) of object array *texts* (n_q, m), padded where ~mask."""
    n_q, m = mask.shape
    flat = np.where(mask, texts, "").astype(object).ravel()
    uniq, inv = np.unique(flat.astype(str), return_inverse=True)
    x = token_sets_matrix(list(uniq))
    sizes = np.asarray(x.sum(axis=1)).ravel()
    r = inv.reshape(n_q, m)
    iu, ju = np.triu_indices(m, k=1)
    a, b = r[:, iu].ravel(), r[:, ju].ravel()
    inter = np.asarray(x[a].multiply(x[b]).sum(axis=1)).ravel()
    union = sizes[a] + sizes[b] - inter
    jac = np.where(union > 0, inter / np.maximum(union, 1), 1.0).reshape(n_q, -1)
    w = np.zeros((n_q, m, m))
    w[:, iu, ju] = jac
    w[:, ju, iu] = jac
    return _finish(w, mask)


class NLIModel:
    """A local cross-encoder NLI model (e.g. a DeBERTa MNLI cross-encoder), loaded lazily once.

    Parameters
    ----------
    model_path : str
        Local directory of a sentence-transformers CrossEncoder with entailment/contradiction labels.
    batch_size : int
    """

    def __init__(self, model_path: str, batch_size: int = 32):
        self.model_path = model_path
        self.batch_size = batch_size
        self._model = None
        self._cols = None

    def _load(self):
        if self._model is None:
            if not os.path.isdir(str(self.model_path)):
                raise FileNotFoundError(f"NLI model directory {self.model_path!r} does not exist")
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import CrossEncoder

            self._model = CrossEncoder(str(self.model_path), device="cpu")
            labels = {i: str(v).lower() for i, v in self._model.config.id2label.items()}
            ent = [i for i, v in labels.items() if v.startswith("entail")]
            con = [i for i, v in labels.items() if v.startswith("contra")]
            if not ent or not con:
                raise ValueError(f"NLI model {self.model_path!r} has labels {labels}; need entailment and "
                                 "contradiction")
            self._cols = (ent[0], con[0])
        return self._model

    def __call__(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """(n_pairs, 2) probabilities [P(entail), P(contradict)] of premise -> hypothesis."""
        model = self._load()
        if not pairs:
            return np.zeros((0, 2))
        logits = np.asarray(model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False,
                                          apply_softmax=False), dtype=np.float64)
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return p[:, list(self._cols)]


def nli_stacks(texts: np.ndarray, mask: np.ndarray, nli) -> tuple[np.ndarray, np.ndarray]:
    """Directional P(entail) and P(contradict) stacks (n_q, m, m), each distinct ordered pair run once.

    Identical strings count as entailing (1) and not contradicting (0) without a model call.
    """
    n_q, m = mask.shape
    flat = np.where(mask, texts, "").astype(str)
    ii, jj = np.nonzero(~np.eye(m, dtype=bool))
    a, b = flat[:, ii], flat[:, jj]
    valid = mask[:, ii] & mask[:, jj] & (a != b)
    keys = list(dict.fromkeys(zip(a[valid].tolist(), b[valid].tolist())))
    probs = nli(keys) if keys else np.zeros((0, 2))
    lookup = {k: p for k, p in zip(keys, probs)}
    vals = np.array([lookup[k] for k in zip(a[valid].tolist(), b[valid].tolist())]).reshape(-1, 2)
    ent = np.zeros((n_q, m, m))
    con = np.zeros((n_q, m, m))
    same = mask[:, ii] & mask[:, jj] & (a == b)
    e_pairs, c_pairs = np.zeros(a.shape), np.zeros(a.shape)
    e_pairs[same] = 1.0
    if len(vals):
        e_pairs[valid], c_pairs[valid] = vals[:, 0], vals[:, 1]
    ent[:, ii, jj], con[:, ii, jj] = e_pairs, c_pairs
    ent = _finish(ent, mask)
    con = np.where(mask[:, :, None] & mask[:, None, :], con, 0.0)
    con[:, np.arange(m), np.arange(m)] = 0.0
    return ent, con


def similarity_from(kind: str, cos: np.ndarray | None = None, jac: np.ndarray | None = None,
                    ent: np.ndarray | None = None, con: np.ndarray | None = None,
                    mask: np.ndarray | None = None) -> np.ndarray:
    """Map raw statistics to a symmetric W in [0, 1] for similarity *kind* (see module doc)."""
    if kind not in SIMILARITIES:
        raise ValueError(f"unknown similarity {kind!r}; expected one of {list(SIMILARITIES)}")
    if kind in ("cosine", "cosine_clip"):
        w = (cos + 1.0) / 2.0 if kind == "cosine" else np.maximum(cos, 0.0)
    elif kind == "jaccard":
        w = jac
    else:
        if ent is None:
            raise ValueError(f"similarity {kind!r} needs an NLI model (none given)")
        d = ent if kind == "nli_entail" else 1.0 - con
        w = (d + np.swapaxes(d, 1, 2)) / 2.0
    w = np.array(w, dtype=np.float64)
    if mask is None:
        mask = np.ones(w.shape[:2], dtype=bool)
    return _finish(w, mask)
