"""Run store: atomic writes, clear errors for broken runs, names that cannot escape the runs directory."""
from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pandas as pd
import pytest

from uq_core import store
from uq_core.schema import Question, questions_to_frame


def _make_run(path):
    run = store.Run.create(path, {"x": 1}, "smollm2-135m", ["capitals"], 0)
    q = [Question("capitals/FRA", "capitals", "What is the capital of France?", ["Paris"], "alias")]
    run.write("questions", questions_to_frame(q))
    return run


def test_create_open_roundtrip(tmp_path):
    run = _make_run(tmp_path / "r")
    again = store.Run.open(tmp_path / "r")
    assert again.manifest["schema_version"] == store.SCHEMA_VERSION
    assert again.table("questions")["references"].iloc[0].tolist() == ["Paris"]
    assert set(again.manifest["versions"]) >= {"torch", "transformers", "umap-learn"}
    with pytest.raises(store.RunError, match="already holds a run"):
        store.Run.create(tmp_path / "r", {}, "m", [], 0)
    assert run.check() == [f"{tmp_path / 'r' / 'generations.parquet'}: file is missing",
                           f"{tmp_path / 'r' / 'verification.parquet'}: file is missing"]


@pytest.mark.parametrize("name,problem", [
    ("missing_manifest", "manifest.json: file is missing"),
    ("bad_json", "not valid JSON"),
    ("old_schema", "schema version 0"),
    ("not_a_dir", "no such run directory"),
])
def test_broken_runs_name_the_file_and_problem(tmp_path, name, problem):
    p = tmp_path / name
    if name != "not_a_dir":
        _make_run(p)
    if name == "missing_manifest":
        (p / "manifest.json").unlink()
    elif name == "bad_json":
        (p / "manifest.json").write_text("{not json")
    elif name == "old_schema":
        m = json.loads((p / "manifest.json").read_text())
        m["schema_version"] = 0
        (p / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(store.RunError, match=problem):
        store.Run.open(p)


def test_corrupt_table_is_reported_and_other_runs_still_list(tmp_path):
    good, bad = _make_run(tmp_path / "good"), _make_run(tmp_path / "bad")
    (bad.path / "questions.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(store.RunError, match=r"questions.parquet: cannot be read as Parquet"):
        bad.table("questions")
    (tmp_path / "half").mkdir()   # a directory with no manifest: listed with its problem
    listed = {label: err for label, _p, err in store.list_runs(tmp_path, include_demo=False)}
    assert listed["good"] is None
    assert "manifest.json: file is missing" in listed["half"]
    assert good.table("questions").shape[0] == 1


def test_missing_column_is_named(tmp_path):
    run = _make_run(tmp_path / "r")
    store.write_table(run.path / "questions.parquet", pd.DataFrame({"id": ["a"]}))
    with pytest.raises(store.RunError, match="missing column"):
        run.table("questions")
    with pytest.raises(store.RunError, match="refusing to write"):
        run.write("verification", pd.DataFrame({"question_id": ["a"]}))


@pytest.mark.parametrize("name", ["../escape", "a/b", "/etc", "..", ".", "", "x" * 101, "bad name", "~root",
                                  "a\x00b"])
def test_run_names_cannot_escape(tmp_path, name):
    with pytest.raises(store.RunError):
        store.safe_run_path(name, tmp_path)


def test_good_run_name_stays_inside(tmp_path):
    assert store.safe_run_path("my-run_1.2", tmp_path) == (tmp_path / "my-run_1.2").resolve()


def test_failed_write_keeps_previous_version(tmp_path):
    path = tmp_path / "t.parquet"
    store.write_table(path, pd.DataFrame({"a": [1, 2, 3]}))
    with pytest.raises(ZeroDivisionError):
        with store.atomic_path(path) as tmp:
            tmp.write_bytes(b"half a file")
            1 / 0
    assert pd.read_parquet(path)["a"].tolist() == [1, 2, 3]
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tiny tmpfs needs root")
def test_disk_full_keeps_previous_version(tmp_path):
    """A real full file system (a 256 KiB tmpfs): the write fails, the previous table is intact."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount tmpfs here")
    try:
        path = mnt / "generations.parquet"
        store.write_table(path, pd.DataFrame({"a": [1, 2, 3]}))
        big = pd.DataFrame({"text": [os.urandom(800).hex() for _ in range(2000)]})
        with pytest.raises(OSError):
            store.write_table(path, big)
        assert pd.read_parquet(path)["a"].tolist() == [1, 2, 3]
        assert [p.name for p in mnt.iterdir()] == ["generations.parquet"]
        with pytest.raises(OSError):
            store.write_array(mnt / "h.npy", np.zeros((1000, 1000), dtype=np.float32))
        assert not (mnt / "h.npy").exists()
    finally:
        subprocess.run(["umount", str(mnt)])
