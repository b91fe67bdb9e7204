"""The app online: with a local HTTP server standing in for NVIDIA's CDN and the suite's
offline variables unset, picking ``stylegan2-ffhq-256`` downloads it with a visible progress bar
(size and speed), then a portrait inverts with it.  The served file is a tiny NVIDIA-format pickle
(16 px, tests/factories.py) under the registered file name."""
from __future__ import annotations

import re

from local_server import serve
from models.conftest import write_nvidia_pickle

from ganinv import registry

MODEL = "stylegan2-ffhq-256"


def test_pick_stylegan2_downloads_with_progress_then_inverts(page, start_app, tmp_path, astronaut_png, tiny_sg2_varied):
    spec = registry.get_spec(MODEL)
    pkl = tmp_path / spec.filename
    write_nvidia_pickle(tiny_sg2_varied, pkl, tmp_path / "canary")
    blob = pkl.read_bytes()
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    with serve() as site:
        path = spec.url.removeprefix(registry._NV)
        site.files[path] = blob
        site.delay = 4.0 / (len(blob) // 8192 + 1)                # ~4 s: long enough to see the bar
        env = {"GANINV_OFFLINE": "", "HF_HUB_OFFLINE": "", registry.BASE_URL_ENV: site.url,
               "GANINV_CHECKPOINTS": str(ckpt)}
        with start_app(extra_env=env) as url:
            page.set_viewport_size({"width": 1280, "height": 900})
            page.goto(url)
            page.get_by_role("tab").first.wait_for(timeout=60_000)
            box = page.locator("#model input")
            box.click()
            page.locator("[data-testid=dropdown-option]").first.wait_for(timeout=30_000)
            option = page.locator(f"[data-testid=dropdown-option][aria-label^='{MODEL} ']")
            assert "downloaded when picked" in option.inner_text()
            option.click()
            bar = page.get_by_text(re.compile(rf"downloading {re.escape(spec.filename)}: [\d.]+ / [\d.]+ MB, "
                                              rf"[\d.]+ MB/s")).first          # the speed shows from half a second on
            bar.wait_for(timeout=30_000)
            page.screenshot(path=str(tmp_path / "downloading.png"), full_page=True)
            page.locator("#model-note").get_by_text(spec.description).wait_for(timeout=60_000)
            assert (ckpt / spec.filename).read_bytes() == blob and len(site.gets(path)) == 1

            page.locator("#invert-input input[type=file]").set_input_files(astronaut_png)
            page.locator("#invert-input img").first.wait_for(timeout=30_000)
            steps = page.locator("#steps input[type=number]")
            steps.fill("3")
            steps.press("Enter")
            page.locator("#run-invert").click()
            page.locator("#reconstruction img").wait_for(timeout=300_000)
            page.get_by_text(f"Inverted with {MODEL}").first.wait_for(timeout=30_000)
            page.screenshot(path=str(tmp_path / "inverted.png"), full_page=True)
    print(f"screenshots: {tmp_path / 'downloading.png'} {tmp_path / 'inverted.png'}")
