"""Verifiers: alias rules, numeric extraction, unit tests in the sandbox, verify_many."""
import pytest

from uq_core.schema import Question
from uq_core.verify import extract_final_number, normalize, parse_number, verify, verify_many
from uq_core.verify.unit_test import build_program, extract_code


def alias_q(*refs):
    return Question(id="t/1", dataset="t", text="?", references=list(refs), verifier="alias")


def num_q(gold):
    return Question(id="t/2", dataset="t", text="?", references=[gold], verifier="numeric")


CODE_Q = Question(
    id="t/3", dataset="t", text="add", references=["    return a + b\n"], verifier="unit_test",
    payload={"prompt": "import math\n\n\ndef add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n",
             "tests": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
             "entry_point": "add"})


@pytest.mark.parametrize("text,expected", [
    ("Brasília", "brasilia"), ("The  Port-au-Prince!", "port au prince"), ("N'Djamena", "ndjamena"),
    ("an Apple a day", "apple day"), ("A+", "a"), ("up to 100,000 or 1,2", "up to 100000 or 1 2"), ("", ""), ("  ", ""), ("--", ""),
])
def test_normalize(text, expected):
    assert normalize(text) == expected


@pytest.mark.parametrize("answer,refs,label,rule", [
    ("Brasilia", ["Brasília"], "right", "exact"),
    ("BRASÍLIA.", ["Brasilia"], "right", "exact"),
    ("The capital is Paris.", ["Paris"], "right", "containment"),
    ("Parisian", ["Paris"], "wrong", "no_match"),
    ("up to 100,000", ["100"], "wrong", "no_match"),
    ("Bob Scott", ["Bobby Scott"], "right", "token_f1"),
    ("London", ["Paris", "City of Paris"], "wrong", "no_match"),
    ("", ["Paris"], "wrong", "empty"),
    ("the", ["Paris"], "wrong", "no_match"),
    ("?!", ["Paris"], "wrong", "empty"),
    ("A+", ["A+", "AB+"], "right", "exact"),
    ("AB+", ["A+"], "wrong", "no_match"),
    ("Paris", [], "unverifiable", "no_references"),
    ("Paris", ["---"], "unverifiable", "no_references"),
])
def test_alias_rules(answer, refs, label, rule):
    got = verify(alias_q(*refs), answer)
    assert got[:2] == (label, rule)
    if label == "right":
        assert "alias" in got[2]


def test_alias_rules_can_be_switched_off_and_threshold_changed():
    q = alias_q("Bobby Scott")
    assert verify(q, "Bob Scott", use_f1=False)[:2] == ("wrong", "no_match")
    assert verify(q, "Bob Scott", f1_threshold=0.6)[:2] == ("wrong", "no_match")
    assert verify(alias_q("Paris"), "It is Paris", use_containment=False)[:2] == ("right", "token_f1")
    assert verify(alias_q("Paris"), "It is Paris", use_containment=False, use_f1=False)[0] == "wrong"
    assert verify(alias_q("Paris"), "paris", use_exact=False)[1] == "containment"
    with pytest.raises(ValueError, match="f1_threshold"):
        verify(q, "x", f1_threshold=0)


@pytest.mark.parametrize("text,value", [
    ("The answer is 1,000.", 1000), ("-5", -5), ("\u22127 degrees", -7), ("3/4 of it", 0.75),
    ("costs $1,234.50", 1234.5), ("$-3", -3), ("it is 50%", 50), ("x = .5", 0.5), ("5 - 3 = 2", 2),
    ("18.", 18), ("first 3 then 4", 4), ("no digits here", None), ("1/0", None), ("", None),
])
def test_extract_final_number(text, value):
    assert extract_final_number(text) == value


@pytest.mark.parametrize("text,value", [("1,000", 1000), ("-3/4", -0.75), ("$5", 5), ("50%", 50), ("18.", 18),
                                        ("abc", None), ("1 2", None), ("", None)])
def test_parse_number(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize("answer,gold,label,rule", [
    ("So she makes $18 every day.", "18", "right", "numeric"),
    ("18.0000000001", "18", "right", "numeric"),
    ("The total is 1,000", "1000", "right", "numeric"),
    ("17", "18", "wrong", "numeric"),
    ("18 or maybe 19", "18", "wrong", "numeric"),
    ("eighteen", "18", "wrong", "no_number"),
    ("", "18", "wrong", "no_number"),
    ("0.75", "3/4", "right", "numeric"),
    ("5", "five", "unverifiable", "bad_reference"),
])
def test_numeric(answer, gold, label, rule):
    assert verify(num_q(gold), answer)[:2] == (label, rule)


def test_numeric_tolerance_option():
    assert verify(num_q("100"), "100.5")[0] == "wrong"
    assert verify(num_q("100"), "100.5", rel_tol=0.01)[0] == "right"


def test_extract_code_prefers_fenced_block_defining_entry_point():
    ans = "Here:\n```python\nx = 1\n```\nand\n```python\ndef add(a, b):\n    return a + b\n```\n"
    assert extract_code(ans, "add").startswith("def add")
    assert extract_code("    return a + b\n", "add") == "    return a + b\n"
    assert "def add(a, b):\n    return a + b" in build_program(ans, CODE_Q.payload)


@pytest.mark.parametrize("answer,rule", [
    ("    return a + b\n", "unit_test:pass"),
    ("```python\ndef add(a, b):\n    return math.fsum([a, b])\n```", "unit_test:pass"),
    ("    return a - b\n", "unit_test:fail"),
    ("    return a +\n", "unit_test:crash"),
    ("    raise RuntimeError('nope')\n", "unit_test:crash"),
    ("    while True:\n        pass\n", "unit_test:timeout"),
    ("    x = bytearray(2**40)\n", "unit_test:memory"),
    ("", "empty"),
])
def test_unit_test_outcomes(answer, rule):
    label, got_rule, evidence = verify(CODE_Q, answer, timeout_s=2)
    assert got_rule == rule, evidence
    assert label == ("right" if rule == "unit_test:pass" else "wrong")
    assert len(evidence) <= 2000
    if rule == "unit_test:fail":
        assert "AssertionError" in evidence


def test_unit_test_without_tests_is_unverifiable():
    q = Question(id="t/4", dataset="t", text="x", references=[], verifier="unit_test", payload={"prompt": "x"})
    assert verify(q, "pass")[:2] == ("unverifiable", "unit_test:no_tests")


def test_verify_many_keeps_order_across_kinds():
    items = [(CODE_Q, "    return a - b\n"), (alias_q("Paris"), "Paris"), (CODE_Q, "    return a + b\n"),
             (num_q("4"), "2+2=4"), (CODE_Q, "    return b + a\n")]
    labels = [r[0] for r in verify_many(items, workers=2)]
    assert labels == ["wrong", "right", "right", "right", "right"]
    with pytest.raises(ValueError, match="workers"):
        verify_many(items, workers=0)
