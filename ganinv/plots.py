"""Figures the app and the CLI show (loss curves).

matplotlib is not thread-safe: its mathtext parser (the log axis' ``10^{-1}`` tick labels) fails
with ``ParseException`` when two threads lay out text at once, and the app draws a figure in its
worker thread while Gradio's ``gr.Plot`` renders another one to PNG in a different thread.  So the
figures built here sit on a ``LockedCanvas``: building, drawing and every ``savefig`` (ours or
Gradio's) hold one process-wide lock.  They are made without pyplot, so pyplot's global figure
registry, which Gradio's ``plt.close`` walks, is never touched.
"""
from __future__ import annotations

import threading

import matplotlib

matplotlib.use("Agg")                            # Gradio imports pyplot: never let it pick a GUI backend
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

_LOCK = threading.RLock()                        # re-entrant: savefig draws, and draw may lay out text again


class LockedCanvas(FigureCanvasAgg):
    """An Agg canvas whose drawing and printing (``savefig`` ends here, ours or Gradio's) hold the
    module's lock.  The figure stays a plain matplotlib ``Figure``, which Gradio recognises by module."""

    def draw(self):
        with _LOCK:
            return super().draw()

    def print_figure(self, *args, **kwargs):
        with _LOCK:                              # covers the layout done outside draw (bbox_inches="tight")
            return super().print_figure(*args, **kwargs)


def _finish(fig, ax, title: str | None, log: bool):
    if log:
        ax.set_yscale("log")
    if title:
        ax.set_title(title, fontsize=9)
    ax.set_xlabel("step")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.canvas.draw()                            # render now, so a later savefig only repaints
    return fig


def loss_figure(history: list[dict], terms: dict[str, str] | None = None, *, weights: dict[str, float] | None = None,
                title: str | None = None, log: bool = True) -> Figure:
    """Loss terms per step.  ``terms`` maps history keys to labels (default loss, mse, perceptual);
    ``weights`` scales a term as it enters the total; terms that stay 0 are left out."""
    terms = terms or {"loss": "loss", "mse": "mse", "perceptual": "perceptual"}
    weights = weights or {}
    with _LOCK:
        fig = Figure(figsize=(5, 3), dpi=100)
        LockedCanvas(fig)
        ax = fig.subplots()
        steps = [h["step"] for h in history]
        for key, label in terms.items():
            vals = [weights.get(key, 1.0) * h.get(key, 0.0) for h in history]
            if any(v > 0 for v in vals) or (not log and any(v != 0 for v in vals)):
                ax.plot(steps, vals, label=label, marker="." if len(steps) < 20 else None)
        return _finish(fig, ax, title, log)


def save_figure(fig: Figure, path: str) -> str:
    with _LOCK:                                  # also for figures made elsewhere
        fig.savefig(path)
    return path


__all__ = ["LockedCanvas", "loss_figure", "save_figure"]
