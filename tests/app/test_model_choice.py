"""The one model choice above the tabs: every tab's main action runs on the picked model, through the
API, for the bundled DCGAN and for a small StyleGAN2 checkpoint in checkpoints/ (``TINY_SG2``)."""
from __future__ import annotations

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from api_steps import MODEL, TINY_SG2, pixels, table, value
from ganinv import io as gio

CASES = {MODEL: dict(space="Z", size=64, layers=""), TINY_SG2: dict(space="W+", size=16, layers="0-2")}


@pytest.mark.parametrize("model", list(CASES))
def test_every_tab_works_on_the_picked_model(app_url, astronaut_png, model):
    case = CASES[model]
    c = Client(app_url, verbose=False)
    spaces, note = c.predict(model, api_name="/select_model")
    assert spaces["value"] == case["space"] and f"**{model}**" in note

    # 1 Invert: the latent belongs to the picked model and becomes the session's
    *_, latent_path, png_path, status = c.predict(handle_file(astronaut_png), model, "center", 1, case["space"], 2,
                                                  1.0, 1, 0, "pti", 5, api_name="/invert")
    assert f"Inverted with **{model}**" in status
    lf = gio.load_latent(latent_path)
    assert (lf.model, lf.space) == (model, case["space"]) and lf.delta    # PTI: the tuned weights come along
    assert Image.open(png_path).size == (case["size"],) * 2

    # 3 Discover from a seed (SeFa), a component promoted to a slider; 2 Edit moves the session latent along it
    grid, values, index, status = c.predict("sefa", 2, 500, "seed", 0, model, api_name="/discover")
    assert len(values["data"]) == 2 and f"components of {model}" in status
    assert "sefa-00 (session)" in c.predict(0, api_name="/use_as_slider")
    assert "sefa-00 (session)" in c.predict(model=model, api_name="/edit_directions")["directions"]
    before, after, *_, status = c.predict(strengths={"sefa-00 (session)": 3}, source="session", score=False,
                                          model=model, api_name="/edit")
    assert status.startswith(f"{model}, edit: session latent ({case['space']}): sefa-00 (session) +3.0")
    assert np.abs(pixels(before) - pixels(after)).mean() > 1

    # 4 Morph & Mix from seeds (no files)
    *_, gif_file, note = c.predict(frames=3, model=model, api_name="/morph")
    assert Image.open(gif_file).n_frames == 4 and "seed 1" in note
    a, b, mixed, note = c.predict(wplus_layers=case["layers"], model=model, api_name="/crossover")
    assert pixels(mixed).shape == pixels(a).shape and np.abs(pixels(mixed) - pixels(a)).mean() > 1

    # 5 Text edit: what each method can do is said for this model
    status, method, *_, glob_reason = c.predict(model=model, api_name="/clip_status")
    assert ("StyleGAN2" in value(glob_reason)) == (model == MODEL)

    # 6 Restore the crop inverted in tab 1 (no upload)
    degraded, restored, metrics, download, note = c.predict(None, "inpaint", "centre", 4, 2, "", 2, model,
                                                           api_name="/restore")
    assert f"with {model}" in note and Image.open(download).size == (case["size"],) * 2
    assert table(metrics)["codes N"] == "2"
