"""App-layer helpers shared by pages: page setup, the sidebar run picker and cached loaders.

Loaders are ``st.cache_data`` keyed by run path + file mtime, so a rewritten file is re-read; they
go through ``uq_core.store``. Nothing heavy is loaded at start.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

import ui_state
from uq_core import view
from uq_core.store import DEMO_RUN, Run, RunError, list_runs, runs_dir


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


@st.cache_data(show_spinner=False, max_entries=256)
def _table(run_path: str, name: str, mtime: int) -> pd.DataFrame:
    return Run.open(run_path).table(name)


@st.cache_data(show_spinner=False, max_entries=256)
def _json(run_path: str, rel: str, mtime: int) -> Any:
    return Run.open(run_path).json(rel)


def table(run_path: str, name: str) -> pd.DataFrame:
    """A run table by name ('questions', 'scores', 'stats/clusters', 'analyses/umap', ...). Raises RunError."""
    return _table(run_path, name, _mtime(Path(run_path) / f"{name}.parquet"))


def json_file(run_path: str, rel: str) -> Any:
    """A run JSON file (e.g. 'analyses/evaluation.json'). Raises RunError when missing or corrupt."""
    return _json(run_path, rel, _mtime(Path(run_path) / rel))


def optional_json(run_path: str, rel: str) -> Any | None:
    """Like ``json_file`` but shows an info box and returns None when the file is missing or broken."""
    try:
        return json_file(run_path, rel)
    except RunError as e:
        st.info(f"Not available in this run: {e}")
        return None


def _mt(run_path: str, *names: str) -> tuple[int, ...]:
    return tuple(_mtime(Path(run_path) / f"{n}.parquet") for n in names)


@st.cache_data(show_spinner=False, max_entries=32)
def _qtable(run_path: str, mtimes: tuple[int, ...]) -> pd.DataFrame:
    return view.question_table(table(run_path, "questions"), table(run_path, "generations"),
                               table(run_path, "verification"), table(run_path, "scores"))


def question_table(run_path: str) -> pd.DataFrame:
    """``uq_core.view.question_table`` of the run, cached."""
    return _qtable(run_path, _mt(run_path, "questions", "generations", "verification", "scores"))


@st.cache_resource(show_spinner=False, max_entries=4)
def _embeddings(run_path: str, mtime: int) -> tuple[np.ndarray, dict[str, int]]:
    run = Run.open(run_path)
    texts = run.table("stats/embedding_texts")["text"].tolist()
    return run.array("stats/embeddings.npy"), {t: i for i, t in enumerate(texts)}


def embeddings(run_path: str) -> tuple[np.ndarray, dict[str, int]]:
    """(embeddings (n_unique, 384), text -> row) shared read-only across sessions; loaded on first use."""
    return _embeddings(run_path, _mtime(Path(run_path) / "stats/embeddings.npy"))


def _default_run(healthy: list[tuple[str, Path]]) -> str | None:
    env = os.environ.get("UQ_LENS_DEFAULT_RUN")
    paths = [str(p) for _, p in healthy]
    if env:
        for label, p in healthy:
            if env in (label, p.name, str(p)) or Path(env).resolve() == p.resolve():
                return str(p)
    if str(DEMO_RUN) in paths:
        return str(DEMO_RUN)
    return paths[0] if paths else None


def run_picker() -> str | None:
    """Sidebar run selector (healthy runs); broken runs are listed with their error. Returns the run path."""
    found = list_runs()
    healthy = [(label, p) for label, p, err in found if err is None]
    broken = [(label, err) for label, _, err in found if err is not None]
    chosen = ui_state.get(ui_state.RUN)
    if chosen and chosen not in [str(p) for _, p in healthy]:
        try:
            Run.open(chosen)
            healthy.append((Path(chosen).name, Path(chosen)))
        except RunError as e:
            broken.append((Path(chosen).name, str(e)))
            chosen = None
    chosen = chosen or _default_run(healthy)
    paths = [str(p) for _, p in healthy]
    labels = {str(p): label for label, p in healthy}
    if broken:
        with st.sidebar.expander(f"{len(broken)} run(s) cannot be opened"):
            for label, err in broken:
                st.text(f"{label}: {err}")
    if not paths:
        st.sidebar.warning(f"No runs found in {runs_dir()}. Start one on the 'New run' page.")
        return None
    if ui_state.get(ui_state.RUN) != chosen:
        ui_state.put(ui_state.RUN, chosen)
    with st.sidebar:
        return synced_select("Run", paths, ui_state.RUN, "w_run", format_func=lambda p: labels.get(p, p),
                             on_change=lambda: ui_state.put(ui_state.QUESTION, None))


def synced_select(label: str, options: list, shared: str, key: str, format_func=str, on_change=None,
                  default: int = 0):
    """A selectbox whose value is kept in the shared session key *shared* (survives page switches).

    The widget's own *key* is set from the shared value before it is drawn (a value chosen on another
    page wins); a user change is copied back in the on_change callback, before the script reruns.
    """
    cur = ui_state.get(shared)
    if cur not in options:
        cur = options[default]
        ui_state.put(shared, cur)
    if st.session_state.get(key) != cur:
        st.session_state[key] = cur

    def _copy():
        ui_state.put(shared, st.session_state[key])
        if on_change:
            on_change()

    st.selectbox(label, options, key=key, format_func=format_func, on_change=_copy)
    # the shared key is the source of truth (a user change reached it in the callback); after a page switch the
    # widget's own state can lag behind it for one run
    return ui_state.get(shared)


def page_setup(title: str, need_run: bool = True) -> str | None:
    """Page config, state init and the run picker; stops the page with a message when there is no run."""
    st.set_page_config(page_title=f"UQ Lens: {title}", layout="wide")
    ui_state.init()
    path = run_picker()
    if path:
        try:
            m = Run.open(path).manifest
            st.sidebar.caption(f"model: {m.get('model')}\n\ndata: {', '.join(map(str, m.get('datasets', [])))}")
        except RunError as e:
            st.sidebar.error(str(e))
            path = None
    if need_run and not path:
        st.title(title)
        st.info("Choose or create a run first.")
        st.stop()
    return path


def method_select(label: str, options: list[str], key: str) -> str | None:
    """Selectbox for a method that starts from, and writes back to, the shared method choice."""
    if not options:
        st.warning("No methods with scores in this run.")
        return None
    return synced_select(label, options, ui_state.METHOD, key)


def run_name(run_path: str) -> str:
    """The run's directory name (for file names)."""
    return Path(run_path).name


@st.cache_data(show_spinner=False, max_entries=32)
def _qhat(run_path: str, alpha: float, mtimes: tuple[int, ...]) -> float | None:
    return view.conformal_qhat(table(run_path, "stats/clusters"), table(run_path, "verification"), alpha=alpha)


def conformal_qhat(run_path: str, alpha: float = 0.1) -> float | None:
    """``uq_core.view.conformal_qhat`` over the run (every coverable question calibrates), cached."""
    return _qhat(run_path, alpha, _mt(run_path, "stats/clusters", "verification"))
