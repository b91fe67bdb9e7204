"""The Invert tab on a long inversion: the expected time reaches the progress shown to the user, Stop
(the event's cancellation) ends the running inversion at its next step, and picking a model sets the step
counts for it on this app's device.  Tab callbacks are called directly on a tiny seeded StyleGAN2."""
from __future__ import annotations

import asyncio
import threading

import pytest

pytest.importorskip("gradio")
from api_steps import run_in_own_loop  # noqa: E402
from factories import tiny_stylegan2  # noqa: E402
from ganinv.actions.common import EXPECTED_TIME  # noqa: E402
from ganinv.models.loaders import save_safetensors  # noqa: E402
from ganinv.settings import CPU_LARGE_STEPS, CPU_LARGE_TUNE_STEPS, INVERT_STEPS, PTI_STEPS  # noqa: E402
from webapp import tab_invert  # noqa: E402
from webapp.common import Context, Stopped  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
LONG = 1000                                     # steps of each phase: the job never ends by itself in the test


@pytest.fixture
def tiny(tmp_path, monkeypatch) -> str:
    """A tiny seeded StyleGAN2 (16 px) as a local checkpoint; its name for ``model=``."""
    save_safetensors(tiny_stylegan2(varied=True), str(tmp_path / "tiny-timed.safetensors"))
    monkeypatch.setenv("GANINV_CHECKPOINTS", str(tmp_path))
    return "local:tiny-timed.safetensors"


@pytest.fixture
def callbacks():
    return tab_invert.make_callbacks(Context(device="cpu"))


def test_stop_ends_the_running_inversion_after_the_expected_time_was_shown(tiny, callbacks, astronaut_png,
                                                                          monkeypatch):
    real, steps, outcome, ended = tab_invert.inv_actions.invert, [], [], threading.Event()

    def spy(*args, progress=None, **kwargs):
        """The action as the tab calls it, counting the steps it reports and keeping how it ended."""
        def counted(f, m):
            steps.append(m)
            progress(f, m)
        try:
            return real(*args, progress=counted, **kwargs)
        except BaseException as e:
            outcome.append(type(e))
            raise
        finally:
            ended.set()
    monkeypatch.setattr(tab_invert.inv_actions, "invert", spy)
    shown, stated = [], threading.Event()

    def progress(fraction, desc=None):              # what gr.Progress shows the user
        shown.append(desc)
        if str(desc).startswith(EXPECTED_TIME):
            stated.set()

    async def run_then_stop():
        job = asyncio.ensure_future(callbacks["invert_cancellable"](
            astronaut_png, tiny, "center", 1, "W+", LONG, 1.0, 1, 0, None, "pti", LONG, None, progress))
        assert await asyncio.to_thread(stated.wait, 120), shown[-3:]
        job.cancel()                                # what the Stop button's cancels=[...] does
        with pytest.raises(asyncio.CancelledError):
            await job
    run_in_own_loop(run_then_stop())
    assert ended.wait(120)
    assert outcome == [Stopped]                     # the worker thread stopped at its next report
    assert len(steps) < LONG                        # long before the pivot's end, let alone the tuning's
    statement = next(d for d in shown if str(d).startswith(EXPECTED_TIME))
    assert f"pivot: {LONG} steps of" in statement and f"tuning: {LONG} steps of ~" in statement


def test_picking_a_model_sets_its_step_counts_for_the_device(callbacks):
    assert callbacks["model_steps"]("stylegan2-ffhq-1024") == (CPU_LARGE_STEPS, CPU_LARGE_TUNE_STEPS)
    assert callbacks["model_steps"]("celeba-dcgan-64") == (INVERT_STEPS, PTI_STEPS)
    gpu = tab_invert.make_callbacks(Context(device="cuda"))
    assert gpu["model_steps"]("stylegan2-ffhq-1024") == (INVERT_STEPS, PTI_STEPS)
