"""Unit-test verifier: run the candidate code against the task's tests in the sandbox.

The code is taken from the answer's first ```python fenced block (the first block that
defines the entry point when several do), else from the raw text. If it defines the entry
point function itself, the program is the task prompt (its imports and helper functions;
the prompt's own stub is then redefined) followed by that code; otherwise the answer is a
completion and the program is prompt + answer. Then come the task's tests and
``check(entry_point)``.
"""
from __future__ import annotations

import re

from .sandbox import run_python

_FENCE = re.compile(r"```[ \t]*(?:python|py|python3)?[ \t]*\n(.*?)(?:```|\Z)", re.S | re.I)
OUTCOMES = ("pass", "fail", "timeout", "crash", "memory")


def extract_code(answer: str, entry_point: str = "") -> str:
    """The code in *answer*: a fenced block if present, else the raw text."""
    blocks = _FENCE.findall(answer or "")
    if not blocks:
        return answer or ""
    for block in blocks:
        if entry_point and _defines(block, entry_point):
            return block
    return blocks[0]


def _defines(code: str, entry_point: str) -> bool:
    return re.search(rf"^(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", code, re.M) is not None


def build_program(answer: str, payload: dict) -> str:
    """The full program: prompt and/or candidate code, the tests, then check(entry_point)."""
    entry = payload.get("entry_point", "")
    prompt = payload.get("prompt", "")
    if prompt and not prompt.endswith("\n"):
        prompt += "\n"
    tests = payload.get("tests", payload.get("test", ""))
    code = extract_code(answer, entry)
    if _defines(code, entry):
        body = prompt.rstrip("\n") + "\n\n\n" + code if prompt else code
    else:
        body = prompt + code
    return f"{body}\n\n\n{tests}\n\n\ncheck({entry})\n"


def classify(status: str, stderr: str) -> str:
    """Map a sandbox status to pass | fail | timeout | crash | memory."""
    if status == "ok":
        return "pass"
    if status in ("timeout", "memory"):
        return status
    if status == "error" and re.search(r"^AssertionError", stderr, re.M):
        return "fail"
    return "crash"


def verify_unit_test(answer: str, payload: dict, timeout_s: float = 10.0, memory_mb: int = 512,
                     **_: object) -> tuple[str, str, str]:
    """Run *answer* against payload['tests'] and return (label, 'unit_test:<outcome>', stderr tail)."""
    entry = payload.get("entry_point")
    tests = payload.get("tests", payload.get("test"))
    if not entry or not tests:
        return "unverifiable", "unit_test:no_tests", "the question has no tests or no entry_point"
    if not (answer or "").strip():
        return "wrong", "empty", "the answer is empty"
    res = run_python(build_program(answer, payload), timeout_s=timeout_s, memory_mb=memory_mb)
    outcome = classify(res.status, res.stderr_tail)
    evidence = res.stderr_tail[-2000:] if outcome != "pass" else f"passed in {res.duration_s:.2f} s"
    return ("right" if outcome == "pass" else "wrong"), f"unit_test:{outcome}", evidence
