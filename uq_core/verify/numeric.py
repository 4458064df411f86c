"""Numeric verifier: the final number in the answer equals the gold number.

Understands thousands commas (1,000), signs (+/-, the Unicode minus), decimals (.5, 2.50),
simple fractions (3/4), currency signs ($ € £ ¥ before the number), percentages (50% is
read as 50) and a trailing period. Comparison uses a relative tolerance (default 1e-6).
"""
from __future__ import annotations

import math
import re

_CURRENCY = re.compile(r"[$€£¥₹]")
_NUMBER = re.compile(
    r"(?P<sign>(?<![\w)\]])[-+])?"
    r"(?<![\d.,/])"
    r"(?P<int>\d{1,3}(?:,\d{3})+|\d+)?(?P<frac>\.\d+)?"
    r"(?:/(?P<den>\d+(?:\.\d+)?)(?![\d.]*/))?"
    r"(?![\d])"
)


def _clean(text: str) -> str:
    text = str(text).replace("\u2212", "-").replace("\u2013", "-")
    return _CURRENCY.sub("", text)


def _value(m: re.Match) -> float | None:
    if not m.group("int") and not m.group("frac"):
        return None
    value = float((m.group("int") or "0").replace(",", "") + (m.group("frac") or ""))
    if m.group("den"):
        den = float(m.group("den"))
        if den == 0:
            return None
        value /= den
    if m.group("sign") == "-":
        value = -value
    return value if math.isfinite(value) else None


def extract_numbers(text: str) -> list[float]:
    """Every number in *text*, in order of appearance."""
    out = []
    for m in _NUMBER.finditer(_clean(text)):
        v = _value(m)
        if v is not None:
            out.append(v)
    return out


def extract_final_number(text: str) -> float | None:
    """The last number in *text*, or None when there is none."""
    nums = extract_numbers(text)
    return nums[-1] if nums else None


def parse_number(text: str) -> float | None:
    """*text* read as exactly one number (e.g. '1,000', '-3/4', '$5', '50%', '18.'), else None."""
    s = _clean(text).strip()
    s = s[:-1].rstrip() if s.endswith("%") else s
    s = s[:-1] if s.endswith(".") and not s.endswith("..") else s
    m = _NUMBER.fullmatch(s.strip())
    return _value(m) if m else None


def format_number(x: float) -> str:
    """A number as a short string: integers without '.0'."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def verify_numeric(answer: str, references: list[str], rel_tol: float = 1e-6, **_: object) -> tuple[str, str, str]:
    """Label *answer* against the gold number references[0].

    Returns (label, rule, evidence): rule 'numeric' when both numbers exist, 'no_number'
    when the answer has none (wrong), 'bad_reference' when the gold is not a number.
    """
    if not references:
        return "unverifiable", "no_references", "the question has no reference answer"
    gold = parse_number(references[0])
    if gold is None:
        gold = extract_final_number(references[0])
    if gold is None:
        return "unverifiable", "bad_reference", f"reference {references[0]!r} is not a number"
    got = extract_final_number(answer or "")
    if got is None:
        return "wrong", "no_number", f"no number in the answer; gold {format_number(gold)}"
    ok = math.isclose(got, gold, rel_tol=rel_tol, abs_tol=1e-12)
    op = "==" if ok else "!="
    return ("right" if ok else "wrong"), "numeric", f"final number {format_number(got)} {op} gold {format_number(gold)}"
