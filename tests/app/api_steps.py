"""Names and readers shared by the API tests (gradio_client against the real server)."""
from __future__ import annotations

import asyncio
import threading

import re

import numpy as np
from PIL import Image

from factories import TINY_SG2  # noqa: F401  (a 16 px StyleGAN2 with random weights in the test server's checkpoints)

MODEL = "celeba-dcgan-64"                     # the bundled model


_STEP = re.compile(r"(?:^|: )step (\d+)/(\d+)\b")


def step_of(desc: str | None) -> tuple[int, int] | None:
    """(k, N) of an inversion's progress message "step k/N ..." (ganinv.actions.common.TimedProgress puts its
    phase first: "optimisation: step k/N  loss ... · about 3 s left"), else None (e.g. the expected time)."""
    m = _STEP.search(desc or "")
    return (int(m[1]), int(m[2])) if m else None


def value(x):
    """The value of an output sent as gr.update(...) (a file output: its path)."""
    if isinstance(x, dict) and x.get("__type__") == "update":
        x = x.get("value")
    return x.get("path") if isinstance(x, dict) and "path" in x else x


def table(t: dict) -> dict:
    """A metric / value Dataframe output as {first column: the rest}."""
    return {row[0]: (row[1] if len(row) == 2 else row[1:]) for row in t["data"]}


def pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def at_model_size(rgb: np.ndarray, size: int = 64) -> np.ndarray:
    """A model-sized image the app showed upscaled (nearest, by a whole factor) back at ``size`` px."""
    k = rgb.shape[0] // size
    assert rgb.shape[:2] == (size * k, size * k), rgb.shape
    return rgb[::k, ::k]


def psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR (dB) of two 8-bit images, computed here: the independent value for the figures the app prints."""
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse))


def run_in_own_loop(coroutine, timeout: float = 300):
    """``asyncio.run(coroutine)`` in a thread of its own: a fresh event loop even when this thread already runs
    one (pytest-playwright's sync API leaves a loop running in the main thread after a browser test).  Returns the
    coroutine's result."""
    failed: list[BaseException] = []
    result: list = []

    def run():
        try:
            result.append(asyncio.run(coroutine))
        except BaseException as e:  # noqa: BLE001 - re-raised in the test's thread
            failed.append(e)
    worker = threading.Thread(target=run, name="own-event-loop", daemon=True)
    worker.start()
    worker.join(timeout)
    assert not worker.is_alive(), f"the coroutine still runs after {timeout} s"
    if failed:
        raise failed[0]
    return result[0]
