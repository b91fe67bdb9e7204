"""Figures the app and the CLI show (loss curves).  matplotlib is not thread-safe (its
mathtext parser fails when two threads draw at once), so every figure is drawn under one lock
and dropped from pyplot's registry before it is returned."""
from __future__ import annotations

import threading

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_LOCK = threading.Lock()


def _finish(fig, ax, title: str | None, log: bool):
    if log:
        ax.set_yscale("log")
    if title:
        ax.set_title(title, fontsize=9)
    ax.set_xlabel("step")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.canvas.draw()                            # render now, under the lock
    plt.close(fig)                               # a closed figure still saves and displays
    return fig


def loss_figure(history: list[dict], terms: dict[str, str] | None = None, *, weights: dict[str, float] | None = None,
                title: str | None = None, log: bool = True):
    """Loss terms per step.  ``terms`` maps history keys to labels (default loss, mse, perceptual);
    ``weights`` scales a term as it enters the total; terms that stay 0 are left out."""
    terms = terms or {"loss": "loss", "mse": "mse", "perceptual": "perceptual"}
    weights = weights or {}
    with _LOCK:
        fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
        steps = [h["step"] for h in history]
        for key, label in terms.items():
            vals = [weights.get(key, 1.0) * h.get(key, 0.0) for h in history]
            if any(v > 0 for v in vals) or (not log and any(v != 0 for v in vals)):
                ax.plot(steps, vals, label=label, marker="." if len(steps) < 20 else None)
        return _finish(fig, ax, title, log)


def save_figure(fig, path: str) -> str:
    with _LOCK:
        fig.savefig(path)
    return path


__all__ = ["loss_figure", "save_figure"]
