"""Alias verifier: does a free-text answer match one of the accepted answer strings?

Normalisation (SQuAD-style, plus accents): NFKD and drop combining marks, lower case,
apostrophes removed, other punctuation and symbols -> space, articles a/an/the removed,
whitespace collapsed (articles stay when nothing else is left, so "A+" -> "a"). Rules, in order, each can be switched off: ``exact`` (normalised
answer equals a normalised alias), ``containment`` (an alias appears as whole words inside
the answer), ``token_f1`` (token-level F1 between answer and an alias >= threshold).
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_APOSTROPHES = "'\u2019\u2018`\u00b4"


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def normalize(text: str) -> str:
    """Normalised form of *text* used by every alias rule (idempotent)."""
    text = _THOUSANDS.sub("", _strip_accents(_strip_accents(str(text)).casefold()))
    out = []
    for c in text:
        if c in _APOSTROPHES:
            continue
        cat = unicodedata.category(c)
        out.append(" " if cat[0] in "PSZC" else c)
    text = " ".join("".join(out).split())
    kept = " ".join(_ARTICLES.sub(" ", text).split())
    return kept or text  # an answer that is only articles (e.g. blood type "A") keeps them


def token_f1(pred: str, gold: str) -> float:
    """Token-overlap F1 between two normalised strings (0 when either is empty)."""
    p, g = pred.split(), gold.split()
    common = sum((Counter(p) & Counter(g)).values())
    if not p or not g or common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def verify_alias(answer: str, references: list[str], f1_threshold: float = 0.5, use_exact: bool = True,
                 use_containment: bool = True, use_f1: bool = True, **_: object) -> tuple[str, str, str]:
    """Label *answer* against the accepted *references*.

    Returns (label, rule, evidence): label 'right' | 'wrong' | 'unverifiable'; rule one of
    'exact', 'containment', 'token_f1', 'no_match', 'empty', 'no_references'.
    """
    if not 0.0 < f1_threshold <= 1.0:
        raise ValueError(f"f1_threshold must be in (0, 1], got {f1_threshold}")
    aliases = [(r, normalize(r)) for r in references or []]
    aliases = [(r, n) for r, n in aliases if n]
    if not aliases:
        return "unverifiable", "no_references", "the question has no usable reference answer"
    ans = normalize(answer or "")
    if not ans:
        return "wrong", "empty", "the answer is empty after normalisation"
    if use_exact:
        for raw, norm in aliases:
            if ans == norm:
                return "right", "exact", f"equals alias {raw!r}"
    if use_containment:
        padded = f" {ans} "
        for raw, norm in aliases:
            if f" {norm} " in padded:
                return "right", "containment", f"contains alias {raw!r}"
    best_raw, best = aliases[0][0], -1.0
    for raw, norm in aliases:
        f1 = token_f1(ans, norm)
        if f1 > best:
            best_raw, best = raw, f1
    if use_f1 and best >= f1_threshold:
        return "right", "token_f1", f"token F1 {best:.2f} >= {f1_threshold} with alias {best_raw!r}"
    return "wrong", "no_match", f"no alias matched; best token F1 {best:.2f} with alias {best_raw!r}"
