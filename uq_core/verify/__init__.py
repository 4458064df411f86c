"""Objective verifiers: alias match, numeric match, unit tests in a sandbox.

``verify`` labels one answer; ``verify_many`` labels many, running unit tests in parallel
subprocesses (at most ``workers`` at once). Every result is (label, rule, evidence) with
label 'right' | 'wrong' | 'unverifiable' (see docs/CONTRACTS.md, verification table).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from ..schema import Question
from .alias import normalize, token_f1, verify_alias
from .numeric import extract_final_number, parse_number, verify_numeric
from .sandbox import SandboxResult, isolation_info, run_python
from .unit_test import verify_unit_test

__all__ = ["verify", "verify_many", "normalize", "token_f1", "extract_final_number", "parse_number",
           "run_python", "isolation_info", "SandboxResult"]


def verify(question: Question, answer: str, **opts) -> tuple[str, str, str]:
    """Label *answer* to *question* with the question's verifier.

    Options go to the verifier: alias (f1_threshold, use_exact, use_containment, use_f1),
    numeric (rel_tol), unit_test (timeout_s, memory_mb). Unknown options are ignored.
    """
    answer = "" if answer is None else str(answer)
    if question.verifier == "alias":
        return verify_alias(answer, question.references, **opts)
    if question.verifier == "numeric":
        return verify_numeric(answer, question.references, **opts)
    if question.verifier == "unit_test":
        return verify_unit_test(answer, question.payload, **opts)
    return "unverifiable", "unknown_verifier", f"no verifier named {question.verifier!r}"


def verify_many(items: list[tuple[Question, str]], workers: int = 2, **opts) -> list[tuple[str, str, str]]:
    """Label every (question, answer) pair, in input order; unit tests run ``workers`` at a time."""
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    out: list = [None] * len(items)
    slow = [i for i, (q, _) in enumerate(items) if q.verifier == "unit_test"]
    for i, (q, a) in enumerate(items):
        if q.verifier != "unit_test":
            out[i] = verify(q, a, **opts)
    if slow:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for i, res in zip(slow, pool.map(lambda j: verify(items[j][0], items[j][1], **opts), slow)):
                out[i] = res
    return out
