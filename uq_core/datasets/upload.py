"""Parse a user's question file (CSV or JSON lines) into Questions, validating everything.

Columns: ``question`` and ``answer`` (required; answer is a string or a JSON list of
accepted aliases; optional for unit_test), optional ``id``, ``verifier``
(alias | numeric | unit_test, default alias), ``tests`` and ``entry_point`` (both required
for unit_test). Other columns go to metadata. Every problem is collected with its row and
column; an invalid file yields no questions, only one DatasetError listing the problems.
Rows are numbered from 1: the n-th data row of a CSV (header not counted), the line
number of a JSON-lines file.
"""
from __future__ import annotations

import csv
import io
import json
import re

from ..schema import VERIFIER_KINDS, Question
from ..verify.numeric import parse_number
from .errors import DatasetError

MAX_SHOWN = 20
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
KNOWN = ("id", "question", "answer", "verifier", "tests", "entry_point")


def _decode(data: bytes, filename: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{filename}: file is not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start} "
                           "cannot be decoded; save it as UTF-8") from None


def _csv_records(text: str, problems: list[str]) -> list[tuple[int, dict]]:
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip() if h else "" for h in (reader.fieldnames or [])]
        reader.fieldnames = header
        missing = [c for c in ("question", "answer") if c not in header]
        if missing:
            problems.append(f"header: missing column(s) {missing}; found {header}")
            return []
        rows = []
        for n, row in enumerate(reader, start=1):
            if None in row:
                problems.append(f"row {n}: {len(row[None])} more value(s) than there are columns")
                row.pop(None)
            rows.append((n, {k: v for k, v in row.items() if v is not None}))
        return rows
    except csv.Error as e:
        problems.append(f"CSV could not be read: {e}")
        return []


def _json_records(text: str, problems: list[str], allow_array: bool) -> list[tuple[int, dict]]:
    stripped = text.lstrip()
    if allow_array and stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except ValueError as e:
            problems.append(f"malformed JSON array: {e}")
            return []
        pairs = list(enumerate(items, start=1))
    else:
        pairs = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                pairs.append((n, json.loads(line)))
            except ValueError as e:
                problems.append(f"row {n}: malformed JSON: {e}")
    out = []
    for n, obj in pairs:
        if isinstance(obj, dict):
            out.append((n, obj))
        else:
            problems.append(f"row {n}: expected a JSON object, got {type(obj).__name__}")
    return out


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float, str)):
        return str(value).strip()
    return None


def _answers(value, where: str, problems: list[str]) -> list[str]:
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except ValueError as e:
            problems.append(f"{where}: starts with '[' but is not a JSON list: {e}")
            return []
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        t = _text(item)
        if t is None or isinstance(item, bool):
            problems.append(f"{where}: {item!r} is not text or a number")
        elif t:
            out.append(t)
    return out


def _row(n: int, rec: dict, name: str, problems: list[str]) -> tuple[str | None, Question | None]:
    start = len(problems)
    col = lambda c: f"row {n}, column {c!r}"  # noqa: E731
    verifier = _text(rec.get("verifier")) or "alias"
    if verifier not in VERIFIER_KINDS:
        problems.append(f"{col('verifier')}: unknown verifier {verifier!r}; expected one of {list(VERIFIER_KINDS)}")
    question = _text(rec.get("question"))
    if not question:
        problems.append(f"{col('question')}: " + ("missing" if rec.get("question") is None else "empty or not text"))
    refs = _answers(rec.get("answer"), col("answer"), problems) if rec.get("answer") is not None else []
    if not refs and verifier != "unit_test":
        problems.append(f"{col('answer')}: empty")
    if verifier == "numeric":
        for r in refs:
            if parse_number(r) is None:
                problems.append(f"{col('answer')}: {r!r} is not a number (numeric verifier)")
    payload = {}
    if verifier == "unit_test":
        tests, entry = _text(rec.get("tests")), _text(rec.get("entry_point"))
        if not tests:
            problems.append(f"{col('tests')}: required for the unit_test verifier")
        if not entry or not _IDENT_RE.match(entry):
            problems.append(f"{col('entry_point')}: a Python function name is required for unit_test, got {entry!r}")
        raw = rec.get("question")
        payload = {"prompt": raw if isinstance(raw, str) else (question or ""), "tests": tests or "", "entry_point": entry or ""}
    rid = _text(rec.get("id")) if rec.get("id") not in (None, "") else str(n)
    if not rid:
        problems.append(f"{col('id')}: must be text or a number")
    if len(problems) > start:
        return rid, None
    meta = {k: v for k, v in rec.items() if k not in KNOWN}
    return rid, Question(id=f"{name}/{rid}", dataset=name, text=question, references=refs, verifier=verifier,
                    payload=payload, metadata=meta)


def parse_user_file(data: bytes, filename: str, max_bytes: int = 10_000_000, name: str = "upload") -> list[Question]:
    """Parse and validate an uploaded question file.

    Parameters
    ----------
    data : bytes
        The file content (UTF-8; a BOM is accepted).
    filename : str
        Decides the format by extension: .csv, or .jsonl / .json (JSON lines; a .json file
        holding one JSON array of objects is also accepted).
    max_bytes : int
        Larger files are refused before parsing.
    name : str
        Data set name used in ``Question.dataset`` and ids (f"{name}/{id or row}").

    Raises
    ------
    DatasetError
        Listing every problem (the first MAX_SHOWN) with row and column.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise DatasetError(f"expected the file content as bytes, got {type(data).__name__}")
    if not _NAME_RE.match(name or ""):
        raise DatasetError(f"data set name {name!r} is not allowed: use letters, digits, '_', '-', '.' (max 64)")
    if len(data) > max_bytes:
        raise DatasetError(f"{filename}: file is {len(data):,} bytes, over the limit of {max_bytes:,} bytes")
    ext = (filename or "").lower().rsplit(".", 1)[-1] if "." in (filename or "") else ""
    if ext not in ("csv", "jsonl", "json"):
        raise DatasetError(f"{filename}: unsupported file type {('.' + ext) if ext else '(no extension)'}; "
                           "use .csv, .jsonl or .json (JSON lines)")
    text = _decode(bytes(data), filename)
    if not text.strip():
        raise DatasetError(f"{filename}: file is empty")
    problems: list[str] = []
    records = _csv_records(text, problems) if ext == "csv" else _json_records(text, problems, ext == "json")
    if not records and not problems:
        problems.append("no data rows (only a header?)")
    seen: dict[str, int] = {}
    questions = []
    for n, rec in records:
        rid, q = _row(n, rec, name, problems)
        if rid and rid in seen:
            problems.append(f"row {n}, column 'id': duplicate id {rid!r} (first in row {seen[rid]})")
        elif rid:
            seen[rid] = n
        if q is not None:
            questions.append(q)
    if problems:
        shown = "\n".join(f"  - {p}" for p in problems[:MAX_SHOWN])
        more = f"\n  ... and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
        raise DatasetError(f"{filename}: {len(problems)} problem(s), nothing was loaded:\n{shown}{more}")
    return questions
