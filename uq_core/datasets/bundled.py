"""Loaders for the bundled question sets (files under assets/datasets/, see SOURCES.md).

Each loader returns every item of its set as a list of Question, in upstream order, with
ids f"{set}/{upstream id or index}". Nothing here edits an upstream answer.
"""
from __future__ import annotations

import gzip
import json
import random
import re
import unicodedata
from pathlib import Path

from ..schema import Question
from ..verify.numeric import format_number, parse_number
from .errors import DatasetError

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "datasets"
ARITHMETIC_SEED, ARITHMETIC_N = 20240601, 300


def _read(rel: str) -> str:
    path = ASSETS / rel
    if not path.exists():
        raise DatasetError(f"bundled data file {path} is missing; see assets/datasets/SOURCES.md")
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return fh.read()
    return path.read_text(encoding="utf-8")


def _jsonl(rel: str) -> list[dict]:
    return [json.loads(line) for line in _read(rel).splitlines() if line.strip()]


def capital_aliases(capital: str) -> list[str]:
    """The capital plus mechanical variants: accents stripped, hyphens as spaces, St./Saint,
    'City of X' -> X, trailing 'D.C.' dropped. Order kept, duplicates removed."""
    forms = [capital]
    plain = "".join(c for c in unicodedata.normalize("NFKD", capital) if not unicodedata.combining(c))
    forms.append(plain)
    for f in list(forms):
        forms.append(f.replace("-", " "))
        if f.startswith("St. "):
            forms.append("Saint " + f[4:])
        if f.startswith("Saint "):
            forms.append("St. " + f[6:])
        if f.startswith("City of "):
            forms.append(f[8:])
        if f.endswith(" D.C."):
            forms.append(f[:-5])
    return list(dict.fromkeys(forms))


def load_capitals() -> list[Question]:
    out = []
    for c in json.loads(_read("capitals/countries.json.gz")):
        caps = c.get("capital") or []
        if len(caps) != 1:
            continue
        name = c["name"]["common"]
        out.append(Question(id=f"capitals/{c['cca3']}", dataset="capitals",
                            text=f"What is the capital of {name}?", references=capital_aliases(caps[0]),
                            verifier="alias", metadata={"country": name, "region": c.get("region", "")}))
    return out


def load_arithmetic(n: int = ARITHMETIC_N, seed: int = ARITHMETIC_SEED) -> list[Question]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        op = "+-x"[i % 3]
        a, b = (rng.randint(2, 12), rng.randint(2, 12)) if op == "x" else (rng.randint(1, 99), rng.randint(1, 99))
        value = a + b if op == "+" else a - b if op == "-" else a * b
        out.append(Question(id=f"arithmetic/{i}", dataset="arithmetic", text=f"What is {a} {op} {b}?",
                            references=[str(value)], verifier="numeric", metadata={"a": a, "b": b, "op": op}))
    return out


def load_nq_open() -> list[Question]:
    """NQ-open dev; the items whose answers hold no letter or digit at all ('---', ')') are skipped."""
    return [Question(id=f"nq_open/{i}", dataset="nq_open", text=r["question"], references=list(r["answer"]),
                     verifier="alias") for i, r in enumerate(_jsonl("nq_open/NQ-open.dev.jsonl"))
            if any(c.isalnum() for a in r["answer"] for c in a)]


def load_svamp() -> list[Question]:
    return [Question(id=f"svamp/{r['ID']}", dataset="svamp", text=f"{r['Body'].strip()} {r['Question'].strip()}",
                     references=[format_number(float(r["Answer"]))], verifier="numeric",
                     metadata={"type": r.get("Type", ""), "equation": r.get("Equation", "")})
            for r in json.loads(_read("svamp/SVAMP.json"))]


def gsm8k_gold(solution: str) -> str:
    """The number after '####' in a GSM8K solution, commas removed."""
    m = re.search(r"####\s*(.+?)\s*$", solution)
    value = parse_number(m.group(1)) if m else None
    if value is None:
        raise DatasetError(f"GSM8K solution without a number after '####': {solution[-80:]!r}")
    return format_number(value)


def load_gsm8k() -> list[Question]:
    return [Question(id=f"gsm8k/{i}", dataset="gsm8k", text=r["question"], references=[gsm8k_gold(r["answer"])],
                     verifier="numeric", metadata={"solution": r["answer"]})
            for i, r in enumerate(_jsonl("gsm8k/test.jsonl"))]


def load_humaneval() -> list[Question]:
    return [Question(id=f"humaneval/{r['task_id']}", dataset="humaneval", text=r["prompt"],
                     references=[r["canonical_solution"]], verifier="unit_test",
                     payload={"prompt": r["prompt"], "tests": r["test"], "entry_point": r["entry_point"]})
            for r in _jsonl("humaneval/HumanEval.jsonl.gz")]
