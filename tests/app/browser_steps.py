"""Steps shared by the browser tests (Playwright page, real server): start an inversion, read an image."""
from __future__ import annotations

import io
from urllib.parse import urljoin

import numpy as np
from PIL import Image


def start_inversion(page, app_url: str, image: str, steps: int) -> None:
    """Open the app, upload ``image`` in tab 1, set the steps and press Run (does not wait for the result)."""
    page.goto(app_url)
    page.get_by_role("tab").first.wait_for(timeout=60_000)
    page.locator("#invert-input input[type=file]").set_input_files(image)
    page.locator("#invert-input img").first.wait_for(timeout=30_000)
    box = page.locator("#steps input[type=number]")
    box.fill(str(steps))
    box.press("Enter")
    page.locator("#run-invert").click()


def wait_for_canvas_colour(page, locator, rgb: tuple[int, int, int], timeout_s: float = 60) -> None:
    """Wait until the centre of ``locator`` (e.g. an ImageEditor's canvas) shows ``rgb``: an upload is on the
    canvas only after a moment, and strokes drawn before that land on the editor's blank default canvas."""
    import time
    deadline = time.time() + timeout_s
    while True:
        shot = np.asarray(Image.open(io.BytesIO(locator.screenshot())).convert("RGB"), dtype=np.int16)
        centre = shot[shot.shape[0] // 2, shot.shape[1] // 2]
        if np.abs(centre - np.array(rgb)).max() <= 3:
            return
        if time.time() > deadline:
            raise AssertionError(f"the canvas centre shows {centre.tolist()}, not {list(rgb)}")
        page.wait_for_timeout(200)


def shown_image(page, selector: str, app_url: str | None = None) -> tuple[str, Image.Image]:
    """(src, RGB image) of the first <img> inside ``selector``, fetched as the browser shows it."""
    src = page.locator(f"{selector} img").first.get_attribute("src")
    url = urljoin(app_url, src) if app_url else src
    body = page.request.get(url).body()
    return src, Image.open(io.BytesIO(body)).convert("RGB")


def shown_pixels(page, selector: str, app_url: str | None = None, dtype=np.float32) -> np.ndarray:
    return np.asarray(shown_image(page, selector, app_url)[1], dtype=dtype)
