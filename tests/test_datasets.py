"""Bundled question sets: files unchanged, loader API, and every gold answer verifies as right."""
import gzip
import hashlib
import random
import re
from pathlib import Path

import pytest

from uq_core.datasets import BUNDLED, DatasetError, allocate, describe, format_table, load
from uq_core.datasets.bundled import capital_aliases, gsm8k_gold
from uq_core.verify import normalize, parse_number, verify_many

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "datasets"
SIZES = {"capitals": 243, "arithmetic": 300, "nq_open": 3608, "svamp": 1000, "gsm8k": 1319, "humaneval": 164}


def test_bundled_files_are_unchanged_upstream_copies():
    sources = (ASSETS / "SOURCES.md").read_text()
    rows = re.findall(r"\| `(\w+)` \| `([^`]+)` \|.*?\| `([0-9a-f]{64})` \|", sources)
    assert len(rows) == 5
    for _, rel, digest in rows:
        raw = (ASSETS / rel).read_bytes()
        if rel.endswith(".gz") and not rel.endswith(".jsonl.gz"):  # gzipped by us; upstream is the plain file
            raw = gzip.decompress(raw)
        assert hashlib.sha256(raw).hexdigest() == digest, rel


def test_describe_counts_and_table():
    rows = describe()
    assert {r["name"]: r["n_items"] for r in rows} == SIZES
    assert {r["verifier"] for r in rows} == {"alias", "numeric", "unit_test"}
    table = format_table(rows).splitlines()
    assert table[0].split() == ["name", "n_items", "verifier", "licence"]
    assert len(table) == 2 + len(rows)
    start = table[0].index("verifier")
    assert all(line[start - 1] == " " and line[start] != " " for line in table[2:])
    assert table[2].index("243") + 3 == table[0].index("n_items") + len("n_items")  # numbers right-aligned
    assert format_table([]) == "(no rows)"


def test_ids_are_unique_and_stable():
    qs = load(list(BUNDLED))
    ids = [q.id for q in qs]
    assert len(ids) == len(set(ids)) == sum(SIZES.values())
    assert all(q.id.startswith(q.dataset + "/") for q in qs)
    assert {"capitals/BRA", "svamp/chal-1", "gsm8k/0", "nq_open/0", "humaneval/HumanEval/163",
            "arithmetic/299"} <= set(ids)


def test_capitals_items_and_aliases():
    bra = load(["capitals"], limit={"capitals": 243})
    bra = next(q for q in bra if q.id == "capitals/BRA")
    assert bra.text == "What is the capital of Brazil?" and bra.references[:2] == ["Brasília", "Brasilia"]
    assert capital_aliases("Washington D.C.") == ["Washington D.C.", "Washington"]
    assert "Saint George's" in capital_aliases("St. George's")
    assert "San Marino" in capital_aliases("City of San Marino")


def test_arithmetic_is_deterministic_and_exact():
    a, b = load(["arithmetic"]), load(["arithmetic"])
    assert [q.text for q in a] == [q.text for q in b]
    for q in a:
        x, op, y = q.metadata["a"], q.metadata["op"], q.metadata["b"]
        assert int(q.references[0]) == {"+": x + y, "-": x - y, "x": x * y}[op]
        assert q.text == f"What is {x} {op} {y}?"


def test_gsm8k_gold_and_humaneval_payload():
    assert gsm8k_gold("blah\n#### 1,234") == "1234"
    with pytest.raises(DatasetError, match="####"):
        gsm8k_gold("no marker")
    he = load(["humaneval"], limit=1, seed=3)[0]
    assert set(he.payload) == {"prompt", "tests", "entry_point"} and "def check" in he.payload["tests"]


def test_limit_is_stratified_reproducible_and_seeded():
    names = ["capitals", "humaneval", "svamp"]
    qs = load(names, limit=10, seed=1)
    counts = {n: sum(q.dataset == n for q in qs) for n in names}
    assert sorted(counts.values()) == [3, 3, 4]
    assert [q.id for q in load(names, limit=10, seed=1)] == [q.id for q in qs]
    assert [q.id for q in load(names, limit=10, seed=2)] != [q.id for q in qs]
    assert allocate({"a": 2, "b": 100, "c": 100}, 11) == {"a": 2, "b": 5, "c": 4}
    assert sum(allocate(SIZES, 5000).values()) == 5000 and allocate({"a": 2}, 9) == {"a": 2}
    mix = load(["capitals", "gsm8k"], limit={"capitals": 2, "gsm8k": 5})
    assert [q.dataset for q in mix] == ["capitals"] * 2 + ["gsm8k"] * 5


@pytest.mark.parametrize("names,limit,match", [
    (["nope"], None, "unknown question set"), ([], None, "no question set"),
    (["capitals", "capitals"], None, "more than once"), (["capitals"], -1, ">= 0"),
    (["capitals"], {"capitals": 999}, "holds 243"), (["capitals"], {"gsm8k": 1}, "not in"),
    (["capitals"], 2.5, "must be None"),
])
def test_load_errors(names, limit, match):
    with pytest.raises(DatasetError, match=match):
        load(names, limit=limit)


def _differs(q, other_gold):
    if q.verifier == "numeric":
        return parse_number(other_gold) != parse_number(q.references[0])
    if q.verifier == "unit_test":
        return other_gold != q.references[0]
    return normalize(other_gold) not in {normalize(r) for r in q.references}


def _wrong_answers(qs, seed=0):
    """For each item, another item's gold that differs from this item's references."""
    golds = [q.references[0] for q in qs]
    order = list(range(len(qs)))
    random.Random(seed).shuffle(order)
    out = []
    for i, q in enumerate(qs):
        k = order.index(i)
        for step in range(1, len(qs)):
            cand = golds[order[(k + step) % len(qs)]]
            if _differs(q, cand):
                out.append(cand)
                break
    return out


@pytest.mark.parametrize("name", list(SIZES))
def test_gold_is_right_and_other_gold_is_wrong(name):
    qs = load([name])
    gold = verify_many([(q, q.references[0]) for q in qs], workers=2)
    bad = [(q.id, r) for q, r in zip(qs, gold) if r[0] != "right"]
    assert not bad, bad[:5]
    wrong = _wrong_answers(qs)
    assert len(wrong) == len(qs)
    res = verify_many(list(zip(qs, wrong)), workers=2)
    rate = sum(r[0] == "wrong" for r in res) / len(qs)
    print(f"\n{name}: gold right {len(qs)}/{len(qs)}; other-gold wrong {rate:.4f} ({len(qs)} items)")
    assert rate >= 0.99, [(q.id, w, r) for q, w, r in zip(qs, wrong, res) if r[0] != "wrong"][:10]
