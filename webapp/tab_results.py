"""The committed evaluation of the bundled model (``ganinv evaluate``; docs/results/evaluation/), shown in
7 Models: per image set, the summary in the papers' layout and one per-image table per method."""
from __future__ import annotations

import gradio as gr
import pandas as pd

from ganinv.actions import evaluate

from .common import Context

RESULTS_MD = """
### Evaluation of the inversion methods
`python -m ganinv evaluate DIR --out RESULTS` (or `--engine ray` on a cluster) inverts every image of a
folder with each method, using this app's alignment and defaults, and scores the 8-bit reconstruction
against the 8-bit crop: PSNR, SSIM, LPIPS, ArcFace similarity, dlib distance, seconds per image. These are
the committed results for the bundled model (`docs/results/evaluation/`).
"""


def method_tables(results: dict) -> dict[str, pd.DataFrame]:
    """One per-image table per method, in the summary's order."""
    rows = pd.DataFrame(results["rows"])
    return {m: rows[rows["method"] == m].drop(columns=["method"]).reset_index(drop=True)
            for m in [s["method"] for s in results["summary"]]}


def build(ctx: Context) -> None:
    with gr.Accordion("Evaluation results (ganinv evaluate)", open=False, elem_id="evaluation-results"):
        gr.Markdown(RESULTS_MD)
        found = evaluate.committed_evaluations()
        if not found:
            gr.Markdown("No committed evaluation in `docs/results/evaluation/`.")
        for name, results in found.items():
            gr.Markdown(f"#### {name}\n\n" + results["markdown"], elem_id=f"evaluation-{name}")
            for method, table in method_tables(results).items():
                with gr.Accordion(f"{name}: {method}, per image", open=False, elem_id=f"evaluation-{name}-{method}"):
                    gr.Dataframe(table, interactive=False, wrap=True)
