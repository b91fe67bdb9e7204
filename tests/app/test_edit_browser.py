"""Edit tab end to end in a real browser (Debian's Chromium via pytest-playwright): invert the
astronaut with few steps, move the smile slider, see the image change and the smile score follow.

The reconstruction already smiles (score about 0.75 of at most 1), so the slider goes the other way,
to about -4, where the score has room to move."""
from __future__ import annotations

import io

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


def test_smile_slider_edits_the_inverted_astronaut(page, app_url, astronaut_png, tmp_path):
    screenshots = tmp_path
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

    # Paste-back is on once 1 Invert aligned a face: the release shows the whole photo, before | after.
    assert page.locator("#edit-paste input[type=checkbox]").is_checked()
    slider = page.locator("#edit-pasted")
    slider.locator("img").nth(1).wait_for(timeout=60_000)
    assert slider.is_visible()
    sizes = page.evaluate("() => [...document.querySelectorAll('#edit-pasted img')].map(i => [i.naturalWidth, "
                          "i.naturalHeight, i.src])")
    assert [s[:2] for s in sizes[:2]] == [[512, 512], [512, 512]], sizes          # the photo at full resolution
    photo = np.asarray(Image.open(astronaut_png).convert("RGB"), np.int16)
    shown = [np.asarray(Image.open(io.BytesIO(page.request.get(s[2]).body())).convert("RGB"), np.int16)
             for s in sizes[:2]]
    assert np.array_equal(shown[0], photo)                                     # before: the photo itself
    diff = np.abs(shown[1] - photo).sum(-1)
    from ganinv.faces import CELEBA_DCGAN, align
    (x0, y0), (x1, y1) = np.floor(align(Image.open(astronaut_png).convert("RGB"), CELEBA_DCGAN).quad.min(0)).astype(int), \
        np.ceil(align(Image.open(astronaut_png).convert("RGB"), CELEBA_DCGAN).quad.max(0)).astype(int)
    outside = np.ones(diff.shape, bool)
    outside[max(y0, 0):y1, max(x0, 0):x1] = False
    assert diff[outside].max() == 0 and diff.mean() > 0.3                      # after: only the face region changed
    slider.screenshot(path=str(screenshots / "edit-pasted-photo.png"))
