"""The app's API, driven through gradio_client against the real server (few steps, bundled DCGAN)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from api_steps import MODEL, at_model_size, psnr_uint8, step_of
from ganinv import io as gio


def invert(client, path, steps=3, model=MODEL, space="Z", align="auto"):
    return client.predict(handle_file(path), model, align, 1, space, steps, 1.0, 1, 0, "optimize", api_name="/invert")


def metrics_dict(table: dict) -> dict:
    return {row[0]: row[1] for row in table["data"]}


def test_invert_returns_reconstruction_metrics_and_downloads(client, astronaut_png):
    original, recon, pasted, plot, table, latent_path, png_path, status = invert(client, astronaut_png)
    shown = np.asarray(Image.open(recon).convert("RGB"))
    native = np.asarray(Image.open(png_path).convert("RGB"))
    assert native.shape == (64, 64, 3) and shown.shape == (256, 256, 3)
    assert np.array_equal(shown[::4, ::4], native)           # nearest upscale of the model-size PNG
    assert Image.open(original).size == (256, 256)
    assert "aligned" in status and Image.open(pasted).size == (512, 512)     # the astronaut's face was found
    m = metrics_dict(table)
    # the figures of the images the user sees (8-bit), computed here: PSNR and SSIM (scikit-image, Gaussian
    # window as Wang et al.) of the model-sized reconstruction PNG against the model-sized crop
    target = at_model_size(np.asarray(Image.open(original).convert("RGB")))
    assert float(m["PSNR (dB)"]) == pytest.approx(psnr_uint8(native, target), abs=0.02), (m, psnr_uint8(native, target))
    from skimage.metrics import structural_similarity
    ssim = structural_similarity(native / 255.0, target / 255.0, channel_axis=2, data_range=1.0, gaussian_weights=True,
                                 sigma=1.5, use_sample_covariance=False)
    assert float(m["SSIM"]) == pytest.approx(ssim, abs=5e-3), (m, ssim)
    assert any(k.startswith("perceptual distance (") for k in m) and m["steps"] == "3"
    assert plot is not None and "PSNR" in status
    lf = gio.load_latent(latent_path, model=MODEL)
    assert lf.space == "Z" and tuple(lf.latent.shape) == (1, 100) and torch.isfinite(lf.latent).all()


def test_bad_image_gives_clear_error_and_server_keeps_answering(client, tmp_path, astronaut_png):
    bad = tmp_path / "photo.png"
    bad.write_bytes(b"this is not an image at all")
    with pytest.raises(AppError, match="not an image"):
        invert(client, str(bad))
    table = client.predict(api_name="/models")
    assert MODEL in [row[0] for row in table["data"]]
    _, _, pasted, *_, status = invert(client, astronaut_png, steps=1, align="center")
    assert "centre crop" in status and pasted is None           # nothing to paste back without alignment


def test_missing_model_reports_registry_message(client, astronaut_png):
    space_update, note = client.predict("stylegan2-ffhq-256", api_name="/select_model")
    assert [c[0] for c in space_update["choices"]] == ["Z", "W", "W+"] and space_update["value"] == "W+"
    assert "checkpoints" in note and "ffhq-res256" in note
    with pytest.raises(AppError, match="not on this machine"):
        invert(client, astronaut_png, model="stylegan2-ffhq-256", space="W+")


def test_bad_latent_files_are_refused_clearly(client, tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(AppError, match="not a readable .npz"):
        client.predict(handle_file(str(garbage)), MODEL, api_name="/load_latent")
    other = gio.save_latent(str(tmp_path / "other.npz"), torch.zeros(1, 100), model="digiface-dcgan-64", space="Z")
    with pytest.raises(AppError, match="made for model 'digiface-dcgan-64'"):
        client.predict(handle_file(other), MODEL, api_name="/load_latent")
    wrong_shape = gio.save_latent(str(tmp_path / "shape.npz"), torch.zeros(1, 7), model=MODEL, space="Z")
    with pytest.raises(AppError, match="shape"):
        client.predict(handle_file(wrong_shape), MODEL, api_name="/load_latent")


def test_sample_returns_one_image_per_seed(client):
    gallery = client.predict("3, 5", MODEL, api_name="/sample")
    assert [g["caption"] for g in gallery] == ["seed 3", "seed 5"]
    a, b = (np.asarray(Image.open(g["image"])) for g in gallery)
    assert a.shape == (256, 256, 3) and not np.array_equal(a, b)


def test_progress_reaches_the_client(client, astronaut_png):
    import time
    job = client.submit(handle_file(astronaut_png), MODEL, "center", 1, "Z", 30, 0.0, 1, 0, "optimize", api_name="/invert")
    seen = set()
    while not job.done():
        for p in job.status().progress_data or []:
            seen.add(p.desc)
        time.sleep(0.05)
    job.result()
    steps = {step_of(d) for d in seen} - {None}
    assert any(k >= 1 and n == 30 for k, n in steps), seen        # a step of the 30 done, as TimedProgress says it


def test_upload_limit_is_enforced_by_server(client, app_url, upload_limit_mb, tmp_path):
    import httpx
    big = tmp_path / "big.png"
    big.write_bytes(b"\0" * int((upload_limit_mb + 0.5) * (1 << 20)))
    with pytest.raises(ValueError, match="exceeds the maximum file size"):      # the client checks first
        invert(client, str(big))
    with open(big, "rb") as f:                                                 # the server refuses it too
        r = httpx.post(app_url + "gradio_api/upload", files={"files": ("big.png", f, "image/png")}, timeout=60)
    assert r.status_code == 413
    assert client.predict(api_name="/models")["data"]


def test_out_of_range_settings_are_refused(client, astronaut_png):
    with pytest.raises(AppError, match="greater than maximum value 1000"):
        invert(client, astronaut_png, steps=100_000)
    with pytest.raises(AppError, match="greater than maximum value 8"):
        client.predict(handle_file(astronaut_png), MODEL, "auto", 1, "Z", 3, 1.0, 50, 0, "optimize", api_name="/invert")
