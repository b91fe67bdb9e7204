"""Restore tab in a real browser: draw a hole with the ImageEditor's brush, inpaint with the drawn
mask, and check that the hole the server used is where the stroke was (centre of the model's crop)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from browser_steps import shown_pixels, wait_for_canvas_colour

pytestmark = pytest.mark.browser

GREY = 200                                    # the uploaded image: flat grey, so the hole is easy to see


def test_drawn_stroke_becomes_the_inpainting_hole(page, app_url, tmp_path):
    path = tmp_path / "landscape.png"
    Image.fromarray(np.full((96, 160, 3), GREY, np.uint8)).save(path)    # not square: the crop matters
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.goto(app_url)
    page.get_by_role("tab", name="6 Restore").click()
    editor = page.locator("#restore-input")
    editor.locator("input[type=file]").set_input_files(str(path))
    canvas = editor.locator(".pixi-target")
    wait_for_canvas_colour(page, canvas, (GREY, GREY, GREY))
    editor.get_by_role("button", name="Brush", exact=True).click()

    box = canvas.bounding_box()                                          # the image is centred in the canvas
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
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
