"""Session-state keys shared across pages, in one place, initialised with a guard.

Widgets use their own page-local keys (Streamlit drops a widget's key when the widget is not on
the page); their values are copied into these keys so that a choice survives a page switch.
Nothing secret (API keys) is ever stored here.
"""
from __future__ import annotations

import streamlit as st

RUN = "uq_run_path"          # str: selected run directory
QUESTION = "uq_question_id"  # str | None: question shown in the inspector
METHOD = "uq_method"         # str | None: method chosen on the map / inspector
LAYER = "uq_layer"           # str | None: layer of the hidden-state map

DEFAULTS = {RUN: None, QUESTION: None, METHOD: None, LAYER: None}


def init() -> None:
    """Create every key with its default if it is not there yet (safe to call on every page)."""
    for k, v in DEFAULTS.items():
        if k not in st.session_state:
            st.session_state[k] = v


def get(key: str):
    """The value of a shared key (after ``init``)."""
    return st.session_state.get(key, DEFAULTS.get(key))


def put(key: str, value) -> None:
    """Set a shared key."""
    st.session_state[key] = value


def index_of(options: list, key: str, fallback: int = 0) -> int:
    """Index of the shared value among *options* (for a widget's ``index=``), else *fallback*."""
    v = get(key)
    return options.index(v) if v in options else fallback
