"""The run directory: manifest, atomic table writes, loading with clear errors.

A run is a directory (see docs/CONTRACTS.md). Every write goes to a temporary file in the
same directory and is then renamed over the target, so a crash or a full disk leaves
either the previous version or the new one, never half a file.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import tempfile
from contextlib import contextmanager
from importlib import metadata as _md
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

from .schema import SCHEMA_VERSION, TABLE_COLUMNS

PACKAGES = ["torch", "transformers", "sentence-transformers", "umap-learn", "scikit-learn", "numpy",
            "pandas", "pyarrow", "openai", "streamlit", "plotly"]
REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_RUN = REPO_ROOT / "assets" / "runs" / "demo"
_UMASK = os.umask(0)
os.umask(_UMASK)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class RunError(Exception):
    """A run directory is missing, partial, corrupt or from another schema version."""


def runs_dir() -> Path:
    """Where user runs live: $UQ_LENS_RUNS_DIR, else ./runs under the repository."""
    return Path(os.environ.get("UQ_LENS_RUNS_DIR") or (REPO_ROOT / "runs")).resolve()


def safe_run_path(name: str, base: Path | None = None) -> Path:
    """Resolve a run *name* inside the runs directory; refuse anything that escapes it."""
    base = (base or runs_dir()).resolve()
    if not _NAME_RE.match(name or "") or name in {".", ".."}:
        raise RunError(f"run name {name!r} is not allowed: use letters, digits, '.', '_' or '-' (max 100), "
                       "no slashes")
    path = (base / name).resolve()
    if path.parent != base:
        raise RunError(f"run name {name!r} escapes the runs directory {base}")
    return path


def package_versions() -> dict[str, str]:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = _md.version(p)
        except _md.PackageNotFoundError:
            out[p] = "not installed"
    return out


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path next to *target*; rename it over *target* only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o644 & ~_UMASK)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(path: Path, obj: Any) -> None:
    """Write *obj* as strict JSON: NumPy values become Python ones, NaN/inf become null (docs/CONTRACTS.md)."""
    with atomic_path(path) as tmp:
        text = json.dumps(to_jsonable(obj), indent=2, sort_keys=False, allow_nan=False, default=_json_default)
        tmp.write_text(text, encoding="utf-8")


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"{path}: file is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(f"{path}: not valid JSON ({e})") from None


def write_table(path: Path, df: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False, compression="zstd")


def read_table(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise RunError(f"{path}: file is missing")
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise RunError(f"{path}: cannot be read as Parquet ({type(e).__name__}: {e})") from None
    if columns:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise RunError(f"{path}: missing column(s) {', '.join(missing)}")
    return df


def write_array(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, arr)


def read_array(path: Path) -> np.ndarray:
    path = Path(path)
    if not path.exists():
        raise RunError(f"{path}: file is missing")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:
        raise RunError(f"{path}: cannot be read as a NumPy array ({e})") from None


def to_jsonable(obj: Any) -> Any:
    """Recursively turn NumPy values into Python ones and NaN/inf into None (JSON null)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if np.isfinite(x) else None
    return obj


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class Run:
    """A run directory. ``Run.create`` starts one; ``Run.open`` checks and opens one."""

    def __init__(self, path: Path, manifest: dict[str, Any]):
        self.path = Path(path)
        self.manifest = manifest

    # -- creation / opening -------------------------------------------------------
    @classmethod
    def create(cls, path: Path, config: dict[str, Any], model: str, datasets: list[str], seed: int) -> "Run":
        path = Path(path)
        if (path / "manifest.json").exists():
            raise RunError(f"{path} already holds a run; use --resume to continue it or choose another --out")
        path.mkdir(parents=True, exist_ok=True)
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "created": now_iso(),
            "config": config,
            "model": model,
            "datasets": datasets,
            "seed": seed,
            "versions": package_versions(),
            "stages": {},
        }
        run = cls(path, manifest)
        run.save_manifest()
        return run

    @classmethod
    def open(cls, path: Path | str) -> "Run":
        path = Path(path)
        if not path.is_dir():
            raise RunError(f"{path}: no such run directory")
        manifest = read_json(path / "manifest.json")
        if not isinstance(manifest, dict):
            raise RunError(f"{path / 'manifest.json'}: expected a JSON object")
        version = manifest.get("schema_version")
        if version != SCHEMA_VERSION:
            raise RunError(f"{path / 'manifest.json'}: schema version {version!r}, this UQ Lens reads "
                           f"version {SCHEMA_VERSION}; regenerate the run")
        missing = [k for k in ("config", "model", "datasets", "seed", "stages") if k not in manifest]
        if missing:
            raise RunError(f"{path / 'manifest.json'}: missing key(s) {', '.join(missing)}")
        return cls(path, manifest)

    @property
    def name(self) -> str:
        return self.path.name

    # -- manifest --------------------------------------------------------------------
    def save_manifest(self) -> None:
        write_json(self.path / "manifest.json", self.manifest)

    def set_stage(self, stage: str, status: str, **info: Any) -> None:
        self.manifest.setdefault("stages", {})[stage] = {"status": status, "updated": now_iso(), **info}
        self.save_manifest()

    def stage_done(self, stage: str) -> bool:
        return self.manifest.get("stages", {}).get(stage, {}).get("status") == "done"

    # -- tables ------------------------------------------------------------------------
    def has(self, rel: str) -> bool:
        return (self.path / rel).exists()

    def table(self, name: str) -> pd.DataFrame:
        """Load a table by name ('questions', 'generations', ...) and check its columns."""
        return read_table(self.path / f"{name}.parquet", TABLE_COLUMNS.get(name))

    def write(self, name: str, df: pd.DataFrame) -> None:
        cols = TABLE_COLUMNS.get(name)
        if cols:
            missing = [c for c in cols if c not in df.columns]
            if missing:
                raise RunError(f"refusing to write {name}: missing column(s) {', '.join(missing)}")
        write_table(self.path / f"{name}.parquet", df)

    def array(self, rel: str) -> np.ndarray:
        return read_array(self.path / rel)

    def write_array(self, rel: str, arr: np.ndarray) -> None:
        write_array(self.path / rel, arr)

    def json(self, rel: str) -> Any:
        return read_json(self.path / rel)

    def write_json(self, rel: str, obj: Any) -> None:
        write_json(self.path / rel, obj)

    def check(self) -> list[str]:
        """Return every problem found (missing/corrupt file, wrong columns); empty = healthy."""
        problems = []
        for name in ("questions", "generations", "verification"):
            try:
                self.table(name)
            except RunError as e:
                problems.append(str(e))
        return problems


def list_runs(base: Path | None = None, include_demo: bool = True) -> list[tuple[str, Path, str | None]]:
    """Every run found: (label, path, error or None). A broken run is listed with its problem."""
    found = []
    if include_demo and DEMO_RUN.exists():
        found.append(("demo (bundled)", DEMO_RUN, None))
    base = base or runs_dir()
    if base.is_dir():
        for p in sorted(base.iterdir()):
            if not p.is_dir() or p.name.startswith("."):
                continue
            try:
                Run.open(p)
                err = None
            except RunError as e:
                err = str(e)
            found.append((p.name, p, err))
    return found
