"""Tab 6 Restore (mGANprior multi-code restoration) through gradio_client on a real server, few steps."""
from __future__ import annotations

import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from api_steps import at_model_size, psnr_uint8, value
from ganinv.actions import models

STEPS, CODES = 30, 4


@pytest.fixture(scope="module")
def sample_png(tmp_path_factory) -> str:
    """An in-domain 64x64 image (a DCGAN sample), so a short run can fit it."""
    path = tmp_path_factory.mktemp("restore") / "sample.png"
    models.sample([5], device="cpu")[0].save(path)
    return str(path)


def editor(path: str | None) -> dict:
    return {"background": handle_file(path) if path else None, "layers": [], "composite": None}


def restore(client, path, task, *, preset="centre", factor=4, codes=CODES, steps=STEPS):
    return client.predict(editor(path), task, preset, factor, codes, "", steps, api_name="/restore")


def rgb(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)


@pytest.mark.parametrize("task", ["inpaint", "colorize", "superres"])
def test_restore_tasks_return_model_sized_image(client, sample_png, task):
    degraded, restored, metrics, download, note = restore(client, sample_png, task)
    assert Image.open(restored).size == (64, 64)
    assert Image.open(download).size == (64, 64)
    rows = {r[0]: r[1] for r in metrics["data"]}
    assert "PSNR vs clean (dB)" in rows and task in note
    if task == "superres":                                  # the 16 px observation, shown nearest-upscaled
        low = rgb(degraded)
        assert low.shape == (64, 64, 3) and np.array_equal(low[::4, ::4], low[3::4, 3::4])


@pytest.mark.parametrize("task, make", [("superres", lambda im: im.resize((16, 16))), ("colorize", lambda im: im.convert("L"))])
def test_real_degraded_upload_is_the_observation(client, sample_png, tmp_path, task, make):
    """A real 16 px photo (super-resolve) or a grey photo (colourise): no fake 'vs clean' figures."""
    path = tmp_path / f"{task}.png"
    make(Image.open(sample_png)).save(path)
    degraded, restored, metrics, download, note = restore(client, str(path), task, steps=3)
    rows = {r[0]: r[1] for r in metrics["data"]}
    assert "PSNR vs clean (dB)" not in rows and "PSNR deg(restored) vs observation (dB)" in rows
    assert ("low-resolution observation" if task == "superres" else "already grey") in note
    assert Image.open(restored).size == (64, 64)
    if task == "superres":
        got = rgb(degraded)
        assert got.shape == (64, 64, 3) and np.abs(got[::4, ::4] - rgb(str(path))).mean() < 2   # the upload itself


def test_inpaint_keeps_known_pixels(client, sample_png):
    from ganinv.invert.multicode import center_hole_mask
    _, restored, *_ = restore(client, sample_png, "inpaint", steps=60)
    known = center_hole_mask(64)[0, 0].numpy().astype(bool)
    err = np.abs(rgb(restored) - rgb(sample_png)).mean(-1)     # [64, 64]
    assert err[known].mean() < 25, err[known].mean()            # fitted region follows the input
    # and the hole is filled with image content, not left black as in the degraded input
    assert rgb(restored)[~known].mean() > 20


def test_drawn_mask_follows_the_centre_crop(client, tmp_path):
    """A brush layer over a landscape upload: the hole is where it was drawn, inside the model's crop."""
    bg = Image.fromarray(np.full((96, 160, 3), 200, np.uint8))            # 160 x 96: the crop is x 32..128
    bg_path, layer_path = tmp_path / "bg.png", tmp_path / "layer.png"
    bg.save(bg_path)
    layer = np.zeros((96, 160, 4), np.uint8)
    layer[0:48, 32:80] = (255, 0, 0, 255)                                  # top-left quarter of the crop
    Image.fromarray(layer, "RGBA").save(layer_path)
    value = {"background": handle_file(str(bg_path)), "layers": [handle_file(str(layer_path))], "composite": None}
    degraded, restored, *_ = client.predict(value, "inpaint", "draw", 4, 2, "", 2, api_name="/restore")
    d = rgb(degraded).mean(-1)                      # "degraded" shows the hole as 0 in [-1, 1], i.e. grey 128
    assert np.abs(d[2:30, 2:30] - 128).max() < 2, d[::8, ::8]
    assert np.abs(d[36:, :] - 200).max() < 2 and np.abs(d[:, 36:] - 200).max() < 2, d[::8, ::8]


@pytest.mark.parametrize("args, words", [
    ((None, "inpaint"), "Upload an image"),
    (("IMG", "inpaint", "centre", 4, 10**6), "greater than maximum value 64"),
    (("IMG", "superres", "centre", 3), r"Value: 3 .* is not in the list of choices: \[2, 4, 8\]"),
    (("IMG", "deblur"), r"Value: 'deblur' .* is not in the list of choices: \['inpaint', 'colorize', 'superres'\]"),
])
def test_bad_input_gives_message_and_server_answers(client, app_url, sample_png, args, words):
    path, task, *rest = args
    kw = dict(zip(["preset", "factor", "codes"], rest))
    # With no upload the tab restores the session's crop: "no image at all" needs a fresh session.
    caller = client if path == "IMG" else Client(app_url, verbose=False)
    with pytest.raises(AppError, match=words):
        restore(caller, sample_png if path == "IMG" else None, task, **kw)
    assert client.predict(api_name="/models") is not None


def test_nan_steps_are_refused(client, app_url, sample_png):
    """gradio_client refuses to send NaN: a hand-written JSON body does."""
    import json

    import httpx
    base = app_url + "gradio_api/"
    with open(sample_png, "rb") as f:
        uploaded = httpx.post(base + "upload", files={"files": ("s.png", f, "image/png")}, timeout=60).json()[0]
    image = json.dumps({"background": {"path": uploaded, "meta": {"_type": "gradio.FileData"}}, "layers": [],
                        "composite": None})
    body = f'{{"data": [{image}, "inpaint", "centre", 4, 4, "", NaN, "celeba-dcgan-64"]}}'
    r = httpx.post(base + "call/restore", content=body, headers={"content-type": "application/json"}, timeout=60)
    r.raise_for_status()
    with httpx.stream("GET", base + f"call/restore/{r.json()['event_id']}", timeout=300) as s:
        lines = list(s.iter_lines())
    assert "event: error" in lines, lines
    assert any("Steps must be a whole number from 1 to 1000, got nan" in ln for ln in lines), lines
    assert client.predict(api_name="/models") is not None


# --------------------------------------------------------------------------- Invert tab: other methods / compare
def invert_method(client, path, method, *, steps=5, codes=4, **extra):
    return client.predict(handle_file(path), "celeba-dcgan-64", "center", 1, method, steps, codes, "",
                          api_name="/invert_method", **extra)


def test_compare_methods_gives_one_row_per_method(client, sample_png):
    chosen = ["encoder", "hybrid", "layerwise"]
    table, gallery = client.predict(handle_file(sample_png), "celeba-dcgan-64", "center", 1, chosen, 5, 4, "",
                                    api_name="/compare_methods")
    assert [r[0] for r in table["data"]] == chosen
    captions = [g.get("caption") for g in gallery]
    assert captions[0] == "target" and any("difference" in (c or "") for c in captions)
    # each row's PSNR is that of the method's shown image against the target, computed here on the 8-bit images
    shown = {g.get("caption"): at_model_size(rgb(value(g["image"])).astype(np.uint8)) for g in gallery}
    for row in table["data"]:
        assert float(row[2]) == pytest.approx(psnr_uint8(shown[row[0]], shown["target"]), abs=0.02), row


def test_encoder_method_latent_is_used_by_edit_tab(app_url, sample_png):
    session = Client(app_url, verbose=False)
    with pytest.raises(AppError, match="there is no session latent yet"):
        session.predict(source="session", score=False, api_name="/edit")
    recon, diff, note = invert_method(session, sample_png, "encoder")
    assert "kept for the other tabs" in note and diff is None
    before = session.predict(source="session", score=False, api_name="/edit")[0]
    assert np.abs(rgb(before) - rgb(recon)).mean() < 3               # Edit starts from the encoder's code


def test_multicode_method_says_image_only(client, sample_png):
    recon, diff, note = invert_method(client, sample_png, "multicode")
    assert Image.open(recon).size[0] >= 64 and "image only" in note


def test_hybrid_domain_weight_reaches_the_library(client, sample_png):
    psnr = {}
    for l_dom in (0.0, 50.0):
        recon, diff, note = invert_method(client, sample_png, "hybrid", steps=15, l_dom=l_dom)
        assert "kept for the other tabs" in note
        psnr[l_dom] = float(note.split("PSNR ")[1].split(" dB")[0])
    assert psnr[50.0] < psnr[0.0] - 0.5, psnr          # a heavy domain term holds the code back from the fit
    with pytest.raises(AppError, match="less than minimum value 0"):
        invert_method(client, sample_png, "hybrid", l_dom=-1)


def test_methods_bad_input(client, sample_png):
    with pytest.raises(AppError, match="Upload an image"):
        client.predict(None, "celeba-dcgan-64", "center", 1, "encoder", 5, 4, "", api_name="/invert_method")
    with pytest.raises(AppError, match="Choose methods among pti, optimize, encoder"):
        client.predict(handle_file(sample_png), "celeba-dcgan-64", "center", 1, [], 5, 4, "",
                       api_name="/compare_methods")
    assert client.predict(api_name="/models") is not None
