"""A latent written by ``python -m ganinv invert`` loads in the app and renders the same image."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from gradio_client import handle_file
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_cli_latent_renders_same_image_in_app(client, astronaut_png, tmp_path):
    out = tmp_path / "cli"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ROOT}
    r = subprocess.run([sys.executable, "-m", "ganinv", "invert", astronaut_png, "--method", "optimize", "--out", str(out), "--steps", "3",
                        "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    shown, png_path, status = client.predict(handle_file(str(out / "astronaut.npz")), "celeba-dcgan-64",
                                                   api_name="/load_latent")
    cli_recon = np.asarray(Image.open(out / "astronaut_recon.png").convert("RGB")).astype(int)
    app_recon = np.asarray(Image.open(png_path).convert("RGB")).astype(int)
    app_shown = np.asarray(Image.open(shown).convert("RGB")).astype(int)
    assert app_recon.shape == cli_recon.shape == (64, 64, 3)
    assert np.abs(app_recon - cli_recon).max() <= 1          # same latent, same generator: same pixels
    assert np.array_equal(app_shown[::4, ::4], app_recon)
    assert "celeba-dcgan-64" in status
