"""Property-based tests: normalisation, number extraction and the upload parser never crash."""
import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from uq_core.datasets import DatasetError
from uq_core.datasets.upload import parse_user_file
from uq_core.schema import Question
from uq_core.verify import extract_final_number, normalize, parse_number, verify
from uq_core.verify.numeric import format_number

FAST = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.text())
def test_normalize_is_total_idempotent_and_clean(text):
    out = normalize(text)
    assert isinstance(out, str)
    assert normalize(out) == out
    assert out == out.strip() and "  " not in out


@FAST
@given(st.text(), st.lists(st.text(), max_size=4))
def test_alias_verifier_never_crashes_and_gold_is_right(answer, refs):
    q = Question(id="p/1", dataset="p", text="?", references=refs, verifier="alias")
    label, rule, evidence = verify(q, answer)
    assert label in ("right", "wrong", "unverifiable") and rule and isinstance(evidence, str)
    usable = [r for r in refs if normalize(r)]
    if usable:
        assert verify(q, usable[0])[0] == "right"


@FAST
@given(st.text())
def test_number_extraction_is_total(text):
    for value in (extract_final_number(text), parse_number(text)):
        assert value is None or (isinstance(value, float) and math.isfinite(value))
    q = Question(id="p/2", dataset="p", text="?", references=["42"], verifier="numeric")
    assert verify(q, text)[0] in ("right", "wrong")


@FAST
@given(st.integers(min_value=-10**12, max_value=10**12), st.sampled_from(["{:,}", "{}", "${:,}", "{}."]),
       st.text(alphabet="abc xyz:=", max_size=20))
def test_formatted_integers_are_recovered(n, fmt, prefix):
    text = prefix + " " + (fmt.format(n) if not fmt.startswith("$") or n >= 0 else "-$" + f"{-n:,}")
    assert extract_final_number(text) == n
    assert parse_number(format_number(n)) == n


@FAST
@given(st.floats(min_value=-1e9, max_value=1e9, allow_nan=False), st.integers(min_value=1, max_value=999))
def test_decimals_and_fractions_are_recovered(x, den):
    assert math.isclose(extract_final_number(f"it is {x:.6f} units"), round(x, 6), rel_tol=1e-9, abs_tol=1e-9)
    assert math.isclose(extract_final_number(f"about 7/{den}"), 7 / den)


@FAST
@given(st.binary(max_size=400), st.sampled_from(["a.csv", "a.jsonl", "a.json", "a.txt", ""]))
def test_upload_parser_on_random_bytes(data, filename):
    try:
        out = parse_user_file(data, filename)
    except DatasetError as e:
        assert str(e)
    else:
        assert all(isinstance(q, Question) and q.dataset == "upload" for q in out)


json_value = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                          lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
                          max_leaves=6)
row = st.dictionaries(st.sampled_from(["id", "question", "answer", "verifier", "tests", "entry_point", "x"]),
                      json_value | st.sampled_from(["alias", "numeric", "unit_test", "3/4", "f", "1,000"]))


@FAST
@given(st.lists(row, max_size=6), st.booleans())
def test_upload_parser_on_structured_rows(rows, as_csv):
    if as_csv:
        cols = ["question", "answer", "id", "verifier"]
        lines = [",".join(cols)] + [",".join(json.dumps(str(r.get(c, ""))) for c in cols) for r in rows]
        data, filename = "\n".join(lines).encode(), "r.csv"
    else:
        data, filename = "\n".join(json.dumps(r) for r in rows).encode(), "r.jsonl"
    try:
        out = parse_user_file(data, filename)
    except DatasetError as e:
        assert "problem" in str(e) or "empty" in str(e)
    else:
        assert len(out) == len(rows) and len({q.id for q in out}) == len(out)
