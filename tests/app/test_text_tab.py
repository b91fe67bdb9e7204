"""Tab 5 Text edit (StyleCLIP) through gradio_client against real servers (``python app.py``).

(a) The default offline server has no CLIP weights: the tab says so in one sentence, refuses
    text edits with that sentence and the rest of the app keeps working.
(b) A server started with GANINV_CLIP=tiny-random (the library's random test CLIP) runs the
    whole pipeline on the bundled DCGAN with a few steps: text edit, prompt errors, mapper
    training + application.  Its checkpoints folder is a temp dir, so no mapper lands in the repo.
"""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from ganinv import clip_models as cm, io as gio

MODEL = "celeba-dcgan-64"


def text_edit(client, prompt="a smiling face", *, steps=3, l2=0.008, id_weight=0.0, source="seed", seed=3):
    return client.predict(prompt, l2, id_weight, steps, source, seed, api_name="/text_edit")


def value(x):
    """The value of an output sent as gr.update(...)."""
    return x.get("value") if isinstance(x, dict) and x.get("__type__") == "update" else x


def table(t: dict) -> dict:
    return {row[0]: row[1] for row in t["data"]}


def pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


@pytest.mark.skipif(cm.is_clip_available(), reason="real CLIP weights are on this machine: the offline message "
                                                   "cannot be shown")
def test_offline_server_explains_missing_clip_and_keeps_working(app_url, astronaut_png):
    client = Client(app_url, verbose=False)
    t0 = time.time()
    status, method, opt_reason, map_reason, mapper_file, glob_reason = client.predict(api_name="/clip_status")
    print(f"\n/clip_status without CLIP weights: {time.time() - t0:.2f} s")
    sentence = cm.missing_message(cm.DEFAULT_CLIP, cm.DEFAULT_PRETRAINED, "offline mode")
    assert status == f"⚠️ {sentence}" and sentence.count(". ") == 0      # one sentence: what is missing, where
    labels = dict((v, k) for k, v in method["choices"])
    assert labels["optimize"].endswith("(unavailable)") and "CLIP" in value(opt_reason)
    assert labels["global"].endswith("(unavailable)") and "StyleGAN2" in value(glob_reason)   # DCGAN: Z only
    assert "Training a mapper needs CLIP" in value(map_reason)             # applying a saved one does not

    t0 = time.time()
    with pytest.raises(AppError) as e:
        text_edit(client)
    print(f"/text_edit without CLIP weights: refused in {time.time() - t0:.2f} s")
    assert str(e.value).strip() == sentence
    with pytest.raises(AppError, match="prompt is empty"):
        text_edit(client, "   ")

    *_, status = client.predict(handle_file(astronaut_png), MODEL, "center", 1, "Z", 1, 1.0, 1, 0, "optimize",
                                api_name="/invert")
    assert "PSNR" in status


def test_tiny_random_clip_runs_text_edit_and_mapper(start_app, tmp_path, astronaut_png):
    ckpt = tmp_path / "checkpoints"
    ckpt.mkdir()
    with start_app(extra_env={"GANINV_CLIP": "tiny-random", "GANINV_CHECKPOINTS": str(ckpt)}) as url:
        client = Client(url, verbose=False)
        status, method, opt_reason, map_reason, mapper_file, _ = client.predict(api_name="/clip_status")
        assert "tiny random CLIP" in status and "meaningless" in status
        labels = dict((v, k) for k, v in method["choices"])
        assert labels["optimize"] == "Latent optimisation" and not value(opt_reason)
        assert "train one" in value(map_reason) and mapper_file["choices"] == []        # no mapper yet

        # (1) latent optimisation, 3 steps on seed 3
        t0 = time.time()
        before, after, plot, metrics, latent_path, png_path, note = text_edit(client, steps=3)
        print(f"\n/text_edit (tiny CLIP, 3 steps): {time.time() - t0:.1f} s")
        m = table(metrics)
        assert float(m["D_CLIP after"]) < float(m["D_CLIP before"])          # Adam lowered the loss it minimises
        assert float(m["||w - w_s||"]) > 0 and m["steps"] == "3" and m["CLIP"] == "tiny-random/random"
        assert "random weights" in note and plot is not None
        assert pixels(before).shape == (256, 256, 3) and np.abs(pixels(before) - pixels(after)).max() > 0
        lf = gio.load_latent(latent_path, model=MODEL)
        assert lf.space == "Z" and tuple(lf.latent.shape) == (1, 100) and torch.isfinite(lf.latent).all()
        assert pixels(png_path).shape == (64, 64, 3)

        # the latent inverted in tab 1 (same session) is edited when asked for
        client.predict(handle_file(astronaut_png), MODEL, "center", 1, "Z", 1, 1.0, 1, 0, "optimize", api_name="/invert")
        *_, note = text_edit(client, source="session", steps=1)
        assert "session latent (Z)" in note

        # (2) bad prompts: clear errors, the server keeps answering
        with pytest.raises(AppError, match="prompt is empty"):
            text_edit(client, "")
        with pytest.raises(AppError, match="λ_L2 must be"):
            text_edit(client, l2=1e6)
        *_, note = text_edit(client, "un visage souriant avec des lunettes", steps=1)
        assert "non-English" in note
        *_, note = text_edit(client, "smile " * 100, steps=1)
        assert "truncated" in note

        # (3) train a mapper (3 steps), then apply it
        t0 = time.time()
        note, files, plot = client.predict("a smiling face", 3, api_name="/train_mapper")
        print(f"/train_mapper (tiny CLIP, 3 steps): {time.time() - t0:.1f} s")
        name = value(files)
        assert name.startswith(f"mapper-{MODEL}-") and (ckpt / name).is_file() and "saved" in note
        t0 = time.time()
        before, after, metrics, latent_path, png_path, note = client.predict(name, 1.0, "seed", 3,
                                                                             api_name="/apply_mapper")
        print(f"/apply_mapper: {time.time() - t0:.2f} s")
        m = table(metrics)
        assert float(m["||α M_t(w)||"]) > 0 and m["prompt"] == "a smiling face" and "D_CLIP after" in m
        assert np.abs(pixels(before) - pixels(after)).max() > 0
        zero = client.predict(name, 0.0, "seed", 3, api_name="/apply_mapper")
        assert np.array_equal(pixels(zero[0]), pixels(zero[1]))                # alpha 0 is the identity
        with pytest.raises(AppError, match="No mapper"):
            client.predict("../../etc/passwd", 1.0, "seed", 3, api_name="/apply_mapper")
        *_, mapper_file, _ = client.predict(api_name="/clip_status")
        assert [c[1] for c in mapper_file["choices"]] == [name]

        # (4) global direction needs StyleGAN2: refused clearly on the DCGAN
        with pytest.raises(AppError, match="StyleGAN2"):
            client.predict("a face", "a smiling face", 4.0, 0.15, "seed", 3, api_name="/global_edit")
