"""Restore tab in a real browser: draw a hole with the ImageEditor's brush, inpaint with the drawn
mask, and check that the hole the server used is where the stroke was (centre of the model's crop)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from browser_steps import PIXI_HOOK, editor_image, shown_pixels, upload_to_editor

pytestmark = pytest.mark.browser

GREY = 200                                    # the uploaded image: flat grey, so the hole is easy to see


def test_drawn_stroke_becomes_the_inpainting_hole(page, app_url, tmp_path):
    path = tmp_path / "landscape.png"
    Image.fromarray(np.full((96, 160, 3), GREY, np.uint8)).save(path)    # not square: the crop matters
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.add_init_script(PIXI_HOOK)
    page.goto(app_url)
    page.get_by_role("tab", name="6 Restore").click()
    editor = page.locator("#restore-input")
    upload_to_editor(page, "#restore-input", str(path))
    # strokes drawn before the upload is on the canvas land on the editor's blank default canvas: wait for the
    # upload itself (its size and its pixels, from the editor's scene) and draw where it is
    shown = editor_image(page, "#restore-input", (160, 96))
    assert shown["lo"] == shown["hi"] == GREY and shown["opaque"] > 0.9, shown
    editor.get_by_role("button", name="Brush", exact=True).click()

    x, y, w, h = shown["box"]
    assert w / h == pytest.approx(160 / 96, rel=0.02), shown
    cx, cy = x + w / 2, y + h / 2                                        # the image's centre on the page
    page.mouse.move(cx - 30, cy - 10)
    page.mouse.down()
    for k in range(20):
        page.mouse.move(cx - 30 + 3 * k, cy - 10 + k, steps=2)
    page.mouse.up()

    page.locator("#restore-mask input[value=draw]").check()
    steps = page.locator("#restore-steps input[type=number]")
    steps.fill("2")
    steps.press("Enter")
    page.locator("#restore-run").click()
    page.wait_for_function("() => (document.querySelector('#restore-status') || {}).innerText?.includes('Restored')",
                           timeout=300_000)

    d = shown_pixels(page, "#restore-degraded").mean(-1)                       # hole = 0 in [-1, 1] = grey 128
    assert d.shape == (64, 64)
    hole = np.abs(d - 128) < 3
    assert hole[28:36, 28:36].all(), d[::8, ::8]                         # the stroke crossed the centre
    assert not hole[:4].any() and not hole[-4:].any() and not hole[:, :4].any() and not hole[:, -4:].any()
    assert 0.05 < hole.mean() < 0.8, hole.mean()                          # a stroke, not the whole image
    assert np.abs(d[~hole] - GREY).max() < 3                              # known pixels pass through unchanged
    assert "Restored (inpaint)" in page.locator("#restore-status").inner_text()
    assert shown_pixels(page, "#restore-restored").shape == (64, 64, 3)
