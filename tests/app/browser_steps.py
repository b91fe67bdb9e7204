"""Steps shared by the browser tests (Playwright page, real server): start an inversion, read an image."""
from __future__ import annotations

import io
import time
from urllib.parse import urljoin

import numpy as np
from PIL import Image


def set_number(page, selector: str, value: int) -> None:
    """Type ``value`` into the number box of the component ``selector`` (as a user does: then Enter)."""
    box = page.locator(f"{selector} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def start_inversion(page, app_url: str, image: str, steps: int, tune_steps: int | None = None) -> None:
    """Open the app, upload ``image`` in tab 1, set the steps (and PTI's tuning steps: None leaves the default)
    and press Run (does not wait for the result)."""
    page.goto(app_url)
    page.get_by_role("tab").first.wait_for(timeout=60_000)
    page.locator("#invert-input input[type=file]").set_input_files(image)
    page.locator("#invert-input img").first.wait_for(timeout=30_000)
    set_number(page, "#steps", steps)
    if tune_steps is not None:
        set_number(page, "#tune-steps", tune_steps)
    page.locator("#run-invert").click()


# Gradio's ImageEditor draws with PixiJS, which calls globalThis.__PIXI_APP_INIT__(app) for every application
# it creates (the hook of Pixi's devtools): with it a test reads the editor's own scene instead of a screenshot.
PIXI_HOOK = "window.__pixi_apps = []; globalThis.__PIXI_APP_INIT__ = (app) => window.__pixi_apps.push(app);"

_EDITOR_IMAGE = """([selector, width, height]) => {
  const root = document.querySelector(selector);
  for (const app of window.__pixi_apps || []) {
    if (!app.canvas || !app.canvas.isConnected || !root.contains(app.canvas)
        || !app.canvas.parentElement.classList.contains('pixi-target')) continue;
    const found = [];
    const walk = (o) => {
      if (o.visible === false) return;
      const t = o.texture;
      if (o.label === 'Sprite' && t && Math.round(t.width) === width && Math.round(t.height) === height) found.push(o);
      (o.children || []).forEach(walk);
    };
    walk(app.stage);
    for (const sprite of found) {         // the background holds the upload; the drawing layers are transparent
      const px = app.renderer.extract.pixels(sprite.texture).pixels;       // the texture's own RGBA
      let lo = 255, hi = 0, opaque = 0;
      for (let i = 0; i < px.length; i += 4) {
        if (px[i + 3] !== 255) continue;
        opaque += 1;
        for (let c = 0; c < 3; c++) { lo = Math.min(lo, px[i + c]); hi = Math.max(hi, px[i + c]); }
      }
      if (opaque === 0) continue;
      const b = sprite.getBounds(), r = app.canvas.getBoundingClientRect();
      const k = r.width / app.canvas.width * app.renderer.resolution;     // canvas pixels -> CSS pixels
      return {box: [r.left + b.x * k, r.top + b.y * k, b.width * k, b.height * k], lo, hi,
              opaque: opaque / (px.length / 4)};
    }
  }
  return null;
}"""


_EDITOR_READY = """(selector) => (window.__pixi_apps || []).some(app => app.canvas && app.canvas.isConnected
    && document.querySelector(selector).contains(app.canvas)
    && app.canvas.parentElement.classList.contains('pixi-target') && app.stage.children.length > 0)"""


def upload_to_editor(page, selector: str, path: str, timeout_s: float = 60) -> None:
    """Upload ``path`` into the ImageEditor in ``selector`` once its Pixi scene exists: a file given earlier
    lands on the editor's 800 x 800 default canvas instead of replacing it."""
    page.wait_for_function(_EDITOR_READY, arg=selector, timeout=timeout_s * 1000)
    page.locator(f"{selector} input[type=file]").set_input_files(path)


def editor_image(page, selector: str, size: tuple[int, int], timeout_s: float = 60) -> dict:
    """Wait until the ImageEditor in ``selector`` shows an image of ``size`` (w, h) (the upload, by its own
    size, not the editor's blank default canvas) at rest; returns ``box`` (x, y, w, h on the page), the range
    ``lo``..``hi`` of its opaque pixels' RGB values read from the texture, and the ``opaque`` fraction.
    Needs ``page.add_init_script(PIXI_HOOK)`` before the page loads."""
    deadline, last = time.time() + timeout_s, None
    while True:
        now = page.evaluate(_EDITOR_IMAGE, [selector, *size])
        if now is not None and last is not None and now["box"] == last["box"] and now["box"][2] > 0:
            return now                                   # placed, and the fit-to-screen zoom has finished
        if time.time() > deadline:
            raise AssertionError(f"the editor never showed a {size[0]} x {size[1]} image at rest: {now}")
        last = now
        page.wait_for_timeout(250)


def shown_image(page, selector: str, app_url: str | None = None) -> tuple[str, Image.Image]:
    """(src, RGB image) of the first <img> inside ``selector``, fetched as the browser shows it."""
    deadline = time.time() + 15
    while True:       # the <img> may still point at a file the server is writing, or be between two sources
        src = page.locator(f"{selector} img").first.get_attribute("src")
        url = urljoin(app_url, src) if app_url else src
        reply = page.request.get(url)
        try:
            return src, Image.open(io.BytesIO(reply.body())).convert("RGB")
        except Exception as e:  # noqa: BLE001 - retried, then reported with what the server said
            if time.time() > deadline:
                raise AssertionError(f"{selector} shows {src!r}, which is not an image: HTTP {reply.status}, "
                                     f"{reply.body()[:80]!r}") from e
        page.wait_for_timeout(250)


def shown_pixels(page, selector: str, app_url: str | None = None, dtype=np.float32) -> np.ndarray:
    return np.asarray(shown_image(page, selector, app_url)[1], dtype=dtype)
