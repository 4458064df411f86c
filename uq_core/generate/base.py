"""What every generation back end provides (local transformers model, OpenAI-compatible server)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


class BackendError(Exception):
    """A back end failed in a way the user must see (after retries); partial work is already saved."""


@dataclass
class GenRequest:
    """One question's worth of generation: a greedy answer and/or n_samples sampled answers."""
    question_id: str
    messages: list[dict[str, str]]          # chat messages, template already applied
    n_samples: int = 5
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 32
    stop_newline: bool = True
    seed: int = 0
    greedy: bool = True


@dataclass
class GenText:
    text: str
    token_logprobs: list[float] = field(default_factory=list)      # empty = not available
    top_logprobs: list[list[float]] = field(default_factory=list)  # per token, top-5 descending; empty = n/a
    n_tokens: int = 0
    finish_reason: str = ""


@dataclass
class GenResult:
    question_id: str
    greedy: GenText | None
    samples: list[GenText]
    greedy_hidden_last: np.ndarray | None = None   # (n_layers, hidden) float16
    greedy_hidden_mean: np.ndarray | None = None   # (n_layers, hidden) float16
    samples_hidden_last: np.ndarray | None = None  # (n_samples, hidden) float16, at sample_layer


@dataclass
class Capabilities:
    logprobs: bool
    top_logprobs: bool
    hidden_states: bool
    reason: str = ""   # why something is missing, shown to the user


class Backend(Protocol):
    name: str
    capabilities: Capabilities
    layers: list[int]        # hidden-state layers kept for greedy answers ([] when none)
    sample_layer: int | None

    def generate(self, requests: list[GenRequest]) -> list[GenResult]:
        """Generate for several questions (batched where the back end can)."""

    def option_probs(self, messages: list[dict[str, str]], options: list[str]) -> dict[str, float] | None:
        """Probabilities of each option as the next token, renormalised over the options (P(true)).
        None when the back end cannot give token probabilities."""

    def complete(self, messages: list[dict[str, str]], max_new_tokens: int = 16) -> str:
        """One greedy reply (verbalized confidence, judge)."""
