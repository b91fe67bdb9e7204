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


def shown_image(page, selector: str, app_url: str | None = None) -> tuple[str, Image.Image]:
    """(src, RGB image) of the first <img> inside ``selector``, fetched as the browser shows it."""
    src = page.locator(f"{selector} img").first.get_attribute("src")
    url = urljoin(app_url, src) if app_url else src
    return src, Image.open(io.BytesIO(page.request.get(url).body())).convert("RGB")


def shown_pixels(page, selector: str, app_url: str | None = None, dtype=np.float32) -> np.ndarray:
    return np.asarray(shown_image(page, selector, app_url)[1], dtype=dtype)
