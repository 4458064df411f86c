"""Typed records for questions, generations and verifications, and the table schemas.

The run directory stores these as Parquet tables (see docs/CONTRACTS.md). The dataclasses
are the in-memory form; ``to_frame`` / ``from_frame`` convert lists of them to tables.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

SCHEMA_VERSION = 1
VERIFIER_KINDS = ("alias", "numeric", "unit_test")
LABELS = ("right", "wrong", "unverifiable")
REF_SETTING = "ref"


@dataclass
class Question:
    id: str
    dataset: str
    text: str
    references: list[str]
    verifier: str
    payload: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verifier not in VERIFIER_KINDS:
            raise ValueError(f"question {self.id!r}: unknown verifier {self.verifier!r}; expected one of {VERIFIER_KINDS}")


@dataclass
class Generation:
    question_id: str
    kind: str  # 'greedy' | 'sample'
    index: int
    text: str
    token_logprobs: list[float] = field(default_factory=list)
    top_logprobs: list[list[float]] = field(default_factory=list)
    n_tokens: int = 0
    finish_reason: str = ""
    temperature: float = 0.0
    top_p: float = 1.0
    template_id: str = ""
    seed: int = 0
    setting: str = REF_SETTING


@dataclass
class Verification:
    question_id: str
    kind: str
    index: int
    label: str
    rule: str
    evidence: str = ""
    setting: str = REF_SETTING

    def __post_init__(self) -> None:
        if self.label not in LABELS:
            raise ValueError(f"unknown label {self.label!r}")


QUESTION_COLUMNS = ["id", "dataset", "text", "references", "verifier", "payload", "metadata"]
GENERATION_COLUMNS = ["question_id", "setting", "kind", "index", "text", "token_logprobs", "top_logprobs",
                      "n_tokens", "finish_reason", "temperature", "top_p", "template_id", "seed"]
VERIFICATION_COLUMNS = ["question_id", "setting", "kind", "index", "label", "rule", "evidence"]
SELF_EVAL_COLUMNS = ["question_id", "p_true", "p_true_raw", "verbalized", "verbalized_raw"]
KEY_COLUMNS = ["question_id", "setting", "kind", "index"]

TABLE_COLUMNS = {
    "questions": QUESTION_COLUMNS,
    "generations": GENERATION_COLUMNS,
    "verification": VERIFICATION_COLUMNS,
    "self_eval": SELF_EVAL_COLUMNS,
}


def questions_to_frame(questions: list[Question]) -> pd.DataFrame:
    rows = []
    for q in questions:
        d = dataclasses.asdict(q)
        d["payload"] = json.dumps(q.payload)
        d["metadata"] = json.dumps(q.metadata)
        d["references"] = list(q.references)
        rows.append(d)
    return pd.DataFrame(rows, columns=QUESTION_COLUMNS)


def questions_from_frame(df: pd.DataFrame) -> list[Question]:
    return [
        Question(id=r.id, dataset=r.dataset, text=r.text, references=list(r.references), verifier=r.verifier,
                 payload=json.loads(r.payload or "{}"), metadata=json.loads(r.metadata or "{}"))
        for r in df.itertuples(index=False)
    ]


def records_to_frame(records: list[Any], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame([dataclasses.asdict(r) for r in records], columns=columns)
