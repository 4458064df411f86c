"""Shared statistics computed once per run: sentence embeddings, similarity matrices, clusters."""
from .clustering import DEFAULT_TAUS, RULES, match_matrix, transitive_clusters
from .embeddings import Embedder, EmbeddingStore, embed_distinct, run_store
from .similarity import SIMILARITIES, NLIModel, cosine_stack, jaccard_stack, nli_stacks, similarity_from

__all__ = ["DEFAULT_TAUS", "RULES", "SIMILARITIES", "Embedder", "EmbeddingStore", "NLIModel", "cosine_stack",
           "embed_distinct", "jaccard_stack", "match_matrix", "nli_stacks", "run_store", "similarity_from",
           "transitive_clusters"]
