"""User question files: valid CSV / JSONL load; every bad input is refused with row and column."""
import json

import pytest

from uq_core.datasets import DatasetError
from uq_core.datasets.upload import MAX_SHOWN, parse_user_file
from uq_core.verify import verify


def jsonl(*rows):
    return "\n".join(json.dumps(r) for r in rows).encode()


def problems_of(data, filename):
    with pytest.raises(DatasetError) as exc:
        parse_user_file(data, filename)
    return str(exc.value)


def test_csv_with_alias_list_numeric_and_extra_columns():
    data = ('id,question,answer,verifier,topic\n'
            'a1,Capital of France?,Paris,,geo\n'
            'a2,How many legs has a spider?,"[""8"", ""eight""]",alias,bio\n'
            'a3,What is 2+2?,4,numeric,math\n').encode()
    qs = parse_user_file(data, "mine.csv", name="quiz")
    assert [q.id for q in qs] == ["quiz/a1", "quiz/a2", "quiz/a3"]
    assert qs[1].references == ["8", "eight"] and qs[0].verifier == "alias" and qs[2].verifier == "numeric"
    assert qs[0].metadata == {"topic": "geo"} and all(q.dataset == "quiz" for q in qs)
    assert verify(qs[1], "It has eight legs")[0] == "right" and verify(qs[2], "four: 5")[0] == "wrong"


def test_jsonl_with_lists_numbers_default_ids_and_bom():
    data = b"\xef\xbb\xbf" + jsonl({"question": "q?", "answer": ["x", "y"]}, {"question": "n?", "answer": 3.5,
                                                                           "verifier": "numeric"})
    qs = parse_user_file(data, "f.jsonl")
    assert [q.id for q in qs] == ["upload/1", "upload/2"] and qs[1].references == ["3.5"]


def test_json_array_file_is_accepted():
    qs = parse_user_file(json.dumps([{"question": "q", "answer": "a"}]).encode(), "f.json")
    assert len(qs) == 1


def test_unit_test_upload_runs_against_its_tests():
    row = {"question": "def double(x):\n    \"\"\"Twice x.\"\"\"\n", "verifier": "unit_test", "answer": "",
           "tests": "def check(f):\n    assert f(2) == 4\n", "entry_point": "double"}
    q = parse_user_file(jsonl(row), "code.jsonl")[0]
    assert q.payload["entry_point"] == "double" and q.payload["prompt"] == row["question"]
    assert verify(q, "    return 2 * x\n")[:2] == ("right", "unit_test:pass")
    assert verify(q, "    return x\n")[:2] == ("wrong", "unit_test:fail")


@pytest.mark.parametrize("data,filename,expected", [
    (b"", "f.csv", "file is empty"),
    (b"  \n\n", "f.jsonl", "file is empty"),
    (b"question,answer\n\xff\xfe,x\n", "f.csv", "not UTF-8 text: byte 0xff at offset 16"),
    (b"question,answer\n", "f.csv", "no data rows"),
    (b"query,answer\nq,a\n", "f.csv", "missing column(s) ['question']"),
    (b"question,answer\nq,a\n", "f.txt", "unsupported file type .txt"),
    (b"question,answer\nq,a\n", "noext", "unsupported file type (no extension)"),
    (b"question,answer\nq,a,extra\n", "f.csv", "row 1: 1 more value(s) than there are columns"),
    (b'{"question": "q", "answer": "a"}\n{"question": oops}\n', "f.jsonl", "row 2: malformed JSON"),
    (b'["q", "a"]\n', "f.jsonl", "row 1: expected a JSON object, got list"),
    (b'[{"question": "q"', "f.json", "malformed JSON array"),
    (b"question,answer\nq,\n", "f.csv", "row 1, column 'answer': empty"),
    (b"question,answer\n,a\n", "f.csv", "row 1, column 'question': empty"),
    (b'{"answer": "a"}\n', "f.jsonl", "row 1, column 'question': missing"),
    (b'{"question": "q", "answer": [true]}\n', "f.jsonl", "row 1, column 'answer': True is not text"),
    (b'question,answer\nq,"[""a"",\n', "f.csv", "row 1, column 'answer': starts with '[' but is not a JSON list"),
    (b"question,answer,verifier\nq,a,regex\n", "f.csv", "row 1, column 'verifier': unknown verifier 'regex'"),
    (b"question,answer,verifier\nq,about five,numeric\n", "f.csv", "row 1, column 'answer': 'about five' is not a number"),
    (b"question,answer,verifier,entry_point\nq,a,unit_test,f\n", "f.csv", "row 1, column 'tests': required"),
    (b"question,answer,verifier,tests\nq,a,unit_test,assert 1\n", "f.csv", "row 1, column 'entry_point': a Python function name"),
    (b"question,answer,verifier,tests,entry_point\nq,a,unit_test,t,not valid\n", "f.csv", "column 'entry_point'"),
    (b"id,question,answer\nx,q1,a\nx,q2,b\n", "f.csv", "row 2, column 'id': duplicate id 'x' (first in row 1)"),
    (b"id,question,answer\n,q1,a\n1,q2,b\n", "f.csv", "row 2, column 'id': duplicate id '1' (first in row 1)"),
    (b'{"id": [1], "question": "q", "answer": "a"}\n', "f.jsonl", "row 1, column 'id': must be text or a number"),
])
def test_bad_files_are_refused_with_row_and_column(data, filename, expected):
    msg = problems_of(data, filename)
    assert expected in msg, msg
    assert filename in msg


def test_too_large_file_is_refused_before_parsing():
    with pytest.raises(DatasetError, match="101 bytes, over the limit of 100 bytes"):
        parse_user_file(b"x" * 101, "big.csv", max_bytes=100)


def test_every_problem_is_collected_and_nothing_is_loaded():
    rows = [{"question": "ok", "answer": "fine"}] + [{"question": "", "answer": ""} for _ in range(30)]
    msg = problems_of(jsonl(*rows), "many.jsonl")
    assert "60 problem(s), nothing was loaded" in msg
    assert "row 2, column 'answer': empty" in msg and "row 2, column 'question'" in msg
    assert msg.count("\n  - ") == MAX_SHOWN and "... and 40 more" in msg


@pytest.mark.parametrize("name", ["", "../x", "a b", "x" * 65])
def test_bad_dataset_name(name):
    with pytest.raises(DatasetError, match="data set name"):
        parse_user_file(b"question,answer\nq,a\n", "f.csv", name=name)


def test_content_must_be_bytes():
    with pytest.raises(DatasetError, match="as bytes"):
        parse_user_file("question,answer\nq,a\n", "f.csv")
