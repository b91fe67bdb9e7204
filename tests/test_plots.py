"""Loss figures are safe to draw while other threads render them.

The app draws a loss curve in its worker thread while Gradio's ``gr.Plot`` turns another request's
figure into a PNG in a different thread; matplotlib's mathtext parser fails (``ParseException``)
when two threads lay out text at once.  Figure.draw is slowed down here so that any two renders
not serialised by ganinv.plots' lock overlap for certain, and the overlap is counted.
"""
from __future__ import annotations

import threading
import time

import gradio as gr
from matplotlib.figure import Figure

from ganinv.plots import loss_figure, save_figure

HISTORY = [{"step": i, "loss": 1.0 / (i + 1), "mse": 0.5 / (i + 1), "perceptual": 0.2 / (i + 1)} for i in range(12)]


def test_figures_render_one_at_a_time_under_concurrent_requests(monkeypatch, tmp_path):
    inside, most, guard = [0], [0], threading.Lock()
    draw = Figure.draw

    def slow_draw(self, renderer):
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            time.sleep(0.02)                         # widen the window: unserialised renders overlap for sure
            return draw(self, renderer)
        finally:
            with guard:
                inside[0] -= 1

    monkeypatch.setattr(Figure, "draw", slow_draw)
    plot, errors = gr.Plot(format="png"), []

    def request(i: int) -> None:                     # one app request: draw the curve, Gradio encodes it
        try:
            for _ in range(2):
                fig = loss_figure(HISTORY, title="loss per step")
                assert plot.postprocess(fig).plot.startswith("data:image/png;base64,")
                if i == 0:
                    save_figure(fig, str(tmp_path / "loss.png"))     # the CLI's path too
        except Exception as e:                       # a thread's failure must fail the test
            errors.append(f"{type(e).__name__}: {e}")

    threads = [threading.Thread(target=request, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert most[0] == 1, f"{most[0]} figures were rendered at once"
    assert (tmp_path / "loss.png").stat().st_size > 0
