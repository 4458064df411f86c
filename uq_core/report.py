"""Export a self-contained HTML report of a run: interactive figures, plotly.js inlined once, no server.

Every model output and question text is escaped with ``html.escape`` (tables via pandas, which
escapes cell text); nothing from a run is ever inserted as raw HTML.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import plotly.graph_objects as go

from . import view
from .plots import agreement, conformal, evaluation, fragility, geometry, overview
from .store import Run, RunError

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222;padding:0 1em}
h1{margin-bottom:.2em}.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:8px;
padding:.6em 1em;min-width:150px}.card b{display:block;font-size:1.4em}table{border-collapse:collapse;font-size:.85em}
td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}.note{color:#666}
pre{white-space:pre-wrap}"""


class _Doc:
    """Accumulates HTML parts; the first figure carries plotly.js inline, later ones none."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.js_done = False

    def h(self, level: int, text: str) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def p(self, text: str, cls: str = "") -> None:
        c = f' class="{cls}"' if cls else ""
        self.parts.append(f"<p{c}>{html.escape(text)}</p>")

    def fig(self, f: go.Figure) -> None:
        self.parts.append(f.to_html(full_html=False, include_plotlyjs=False if self.js_done else "inline",
                                    config={"displaylogo": False}))
        self.js_done = True

    def table(self, df: pd.DataFrame, index: bool = True) -> None:
        self.parts.append(df.to_html(escape=True, index=index, float_format=lambda x: f"{x:.3f}", na_rep="n/a"))

    def section(self, title: str, body: Callable[[], None]) -> None:
        self.h(2, title)
        try:
            body()
        except RunError as e:
            self.p(f"Not available in this run: {e}", "note")


def build_report(run: Run | str | Path) -> str:
    """Return the whole report as one HTML string (open it in any browser, offline).

    Parameters
    ----------
    run : Run or path
        An opened run or its directory.
    """
    run = run if isinstance(run, Run) else Run.open(run)
    doc = _Doc()
    m = run.manifest
    doc.h(1, f"UQ Lens report: {run.name}")
    doc.p(f"model: {m.get('model')} | data: {', '.join(map(str, m.get('datasets', [])))} | "
          f"created: {m.get('created', '?')} | seed: {m.get('seed')}", "note")
    doc.p("Uncertainty methods group answers by how much the model agrees with itself. Agreement is not "
          "truth: below, every method is checked against objective verifiers.")
    ev = run.json("analyses/evaluation.json")
    scores = run.table("scores")
    qt = view.question_table(run.table("questions"), run.table("generations"), run.table("verification"), scores)
    labels = qt.set_index("question_id")["verdict"]
    ch = view.confident_hallucinations(scores, labels, 20)
    mt = view.method_table(ev)
    _headline(doc, view.headline(ev, ch))
    methods = view.available_methods(scores)

    def thesis() -> None:
        doc.fig(overview.auroc_forest(mt))
        doc.fig(overview.confidence_vs_correctness(qt, methods))
        show = mt[["method", "family", "auroc", "auroc_lo", "auroc_hi", "prr", "aurac", "ece", "ch_rate_20",
                   "worst_dataset", "worst_auroc"]] if len(mt) else mt
        doc.table(show, index=False)
    doc.section("Do the methods find the wrong answers?", thesis)

    def ch_table() -> None:
        t = qt[qt["question_id"].isin(ch["question_ids"])][["question_id", "dataset", "question", "answer", "verdict"]]
        doc.p(view.ch_sentence(ch))
        doc.table(t, index=False)
    doc.section("Confident hallucinations", ch_table)

    def truth() -> None:
        curves = run.json("analyses/curves.json")
        doc.fig(evaluation.metric_bars(mt, "prr"))
        doc.fig(evaluation.per_dataset_heatmap(view.per_dataset_table(ev)))
        for f in (evaluation.roc_curves, evaluation.rac_curves, evaluation.calibration):
            doc.fig(f(curves, methods))
    doc.section("Truth evaluation", truth)
    doc.section("Hidden-state map", lambda: _geometry(doc, run, qt, methods))

    def agree() -> None:
        ov = run.json("analyses/overlap.json")
        doc.table(view.paper_table(ov))
        q = 20 if "20" in ov.get("overlap", {}) else (ov.get("q") or [20])[0]
        doc.fig(agreement.overlap_heatmap(view.overlap_matrix(ov, q), int(q), ov.get("random", {}).get(str(q))))
        doc.fig(agreement.corr_heatmap(view.corr_matrix(ov, "spearman"), "spearman"))
    doc.section("Method agreement", agree)

    def frag() -> None:
        fr = run.json("analyses/fragility.json")
        for sw in fr.get("sweeps", {}):
            doc.fig(fragility.sweep_lines(fr, sw, "auroc"))
            doc.table(view.fragility_table(fr, sw))
    doc.section("Fragility", frag)

    def conf() -> None:
        cj = run.json("analyses/conformal.json")
        doc.fig(conformal.coverage_plot(cj))
        doc.fig(conformal.set_size_plot(cj))
        unc = cj.get("uncoverable", {})
        doc.p(f"{unc.get('count', 0)} question(s) have no correct sample and cannot be covered by any set.")
    doc.section("Conformal prediction", conf)

    def judge() -> None:
        j = run.json("analyses/judge.json")
        doc.fig(evaluation.judge_vs_verifier(j))
    doc.section("Verifier vs model judge", judge)
    body = "\n".join(doc.parts)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>UQ Lens report: "
            f"{html.escape(run.name)}</title><style>{CSS}</style></head><body>{body}</body></html>")


def _headline(doc: _Doc, h: dict[str, Any]) -> None:
    def card(label: str, value: str) -> str:
        return f"<div class='card'>{html.escape(label)}<b>{html.escape(value)}</b></div>"
    acc = h.get("accuracy")
    cards = [card("questions", f"{h.get('n_questions')} ({h.get('n_labelled')} verified)"),
             card("accuracy", "n/a" if acc is None else f"{100 * acc:.0f}%")]
    ch = h["ch"]
    cards.append(card("confident hallucinations", "n/a" if ch["rate"] is None else
                      f"{100 * ch['rate']:.0f}% ({ch['count']} of {ch['n']})"))
    for k in ("best", "worst"):
        if h.get(k):
            cards.append(card(f"{k} AUROC: {h[k]['method']}", view.fmt_ci(h[k]["auroc"], *h[k]["ci"])))
    doc.parts.append(f"<div class='cards'>{''.join(cards)}</div>")
    doc.p(view.ch_sentence(ch))


def _geometry(doc: _Doc, run: Run, qt: pd.DataFrame, methods: list[str]) -> None:
    um = run.table("analyses/umap")
    geo = run.json("analyses/geometry.json")
    layers = [x for x in um["layer"].unique() if x != "samples"]
    if not layers or not methods:
        doc.p("No projection stored.", "note")
        return
    layer, method = layers[-1], methods[0]
    pts = view.umap_points(um, layer, qt, method)
    rng = geometry.axis_ranges(pts)
    doc.p(f"Layer {layer}, method {method}.", "note")
    doc.fig(geometry.umap_map(pts, "confidence", method=method, ranges=rng))
    doc.fig(geometry.umap_map(pts, "correctness", method=method, ranges=rng))
    if layer in geo.get("layers", {}):
        doc.table(view.separation_table(geo, layer, method))


def write_report(run: Run | str | Path, out: Path) -> Path:
    """Write ``build_report(run)`` to *out* (UTF-8); returns *out*."""
    out = Path(out)
    out.write_text(build_report(run), encoding="utf-8")
    return out
