"""Edit tab end to end in a real browser (Debian's Chromium via pytest-playwright): invert the
astronaut with few steps, move the smile slider, see the image change and the smile score follow.

The reconstruction already smiles (score about 0.75 of at most 1), so the slider goes the other way,
to about -4, where the score has room to move."""
from __future__ import annotations


import numpy as np
import pytest
import torch
from PIL import Image

from browser_steps import shown_image, start_inversion

pytestmark = pytest.mark.browser

STEPS = 10                                   # few steps: the face only has to be found by the scorer


def _model_size(img: Image.Image) -> torch.Tensor:
    """The app shows 64-px images upscaled 4x (nearest): back to [1, 3, 64, 64] in [-1, 1]."""
    a = np.asarray(img)[::4, ::4].astype(np.float32) / 127.5 - 1
    return torch.from_numpy(a).permute(2, 0, 1)[None]


def test_smile_slider_edits_the_inverted_astronaut(page, app_url, astronaut_png):
    page.set_viewport_size({"width": 1280, "height": 900})
    start_inversion(page, app_url, astronaut_png, STEPS)
    page.locator("#reconstruction img").wait_for(timeout=600_000)

    page.get_by_role("tab", name="2 Edit").click()
    page.locator("#edit-after img").wait_for(timeout=60_000)          # the session latent is rendered at once
    status_has = "t => (document.querySelector('#edit-status') || {}).innerText?.includes(t)"
    page.wait_for_function(status_has, arg="session latent (Z): no edit", timeout=60_000)
    assert page.locator("#edit-alignment img").is_visible()          # the astronaut's face was aligned
    src0, before = shown_image(page, "#edit-after")

    smile = page.get_by_label("range slider for smile", exact=True)
    smile.scroll_into_view_if_needed()
    box = smile.bounding_box()
    smile.click(position={"x": box["width"] * 0.1, "y": box["height"] / 2})     # release at about -4
    page.wait_for_function(status_has, arg="session latent (Z): smile -", timeout=60_000)
    page.wait_for_function("s => { const i = document.querySelector('#edit-after img'); return i && i.src !== s; }",
                           arg=src0, timeout=60_000)
    assert float(smile.input_value()) < -3
    _, after = shown_image(page, "#edit-after")
    assert np.abs(np.asarray(after, np.int16) - np.asarray(before, np.int16)).mean() > 2

    from ganinv.attributes import get_scorer
    scores = get_scorer("face").score(torch.cat([_model_size(before), _model_size(after)]))
    assert np.isfinite(scores["smile"]).all(), scores
    assert scores["smile"][0] > 0.3 and scores["smile"][1] < scores["smile"][0] - 0.3, scores["smile"]
