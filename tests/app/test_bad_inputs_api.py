"""The bad-input catalogue (tests/bad_inputs.py) through the running app's HTTP API.

Every bad file and every out-of-range setting gets a clear message, nothing from an uploaded file
is executed, and after each case the server still answers a cheap call.  The same catalogue goes
through the library and the CLI in tests/test_bad_inputs.py.
"""
from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
import torch
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from bad_inputs import Canary, bad_images, odd_but_valid_images, write
from ganinv import io as gio

MODEL = "celeba-dcgan-64"
BAD = bad_images()
ODD = odd_but_valid_images()


def invert(client, path, *, steps=1, space="Z", weight=1.0, restarts=1, seed=0, model=MODEL, face=1):
    return client.predict(handle_file(path), model, "auto", face, space, steps, weight, restarts, seed, "optimize",
                          api_name="/invert")


def assert_server_answers(client) -> None:
    rows = client.predict(api_name="/models")["data"]
    assert MODEL in [r[0] for r in rows]


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_image_is_refused_with_its_message(name, client, tmp_path):
    path = write({name: BAD[name]}, str(tmp_path))[name]
    with pytest.raises(AppError) as e:
        invert(client, path)
    assert BAD[name][2] in str(e.value)
    assert "Traceback" not in str(e.value)
    assert_server_answers(client)


@pytest.mark.parametrize("name", sorted(ODD))
def test_odd_but_valid_image_inverts(name, client, tmp_path):
    path = write({name: ODD[name]}, str(tmp_path))[name]
    original, recon, *_, latent_path, png_path, status = invert(client, path)
    assert np.asarray(Image.open(png_path).convert("RGB")).shape == (64, 64, 3)
    assert Image.open(original).size == (256, 256)
    latent = gio.load_latent(latent_path, model=MODEL).latent
    assert tuple(latent.shape) == (1, 100) and torch.isfinite(latent).all()
    assert "Inverted" in status
    assert_server_answers(client)


# --------------------------------------------------------------------------- latent files
def _latent_case(case: str, folder, canary) -> tuple[str, str]:
    """(path, phrase the error must contain) of a bad latent file."""
    p = str(folder / f"{case}.npz")
    if case == "shape":
        gio.save_latent(p, torch.randn(1, 512), model=MODEL, space="Z")
        return p, "shape"
    if case == "model":
        gio.save_latent(p, torch.randn(1, 18, 512), model="stylegan2-ffhq-1024", space="W+")
        return p, "made for model 'stylegan2-ffhq-1024'"
    if case in ("nan", "inf"):
        z = torch.randn(1, 100)
        z[0, 5] = float("nan") if case == "nan" else float("-inf")
        gio.save_latent(p, z, model=MODEL, space="Z")
        return p, "NaN or Inf"
    if case == "pickle_in_npz":                  # an object array whose unpickling would run `touch canary`
        obj = np.empty(1, dtype=object)
        obj[0] = Canary(str(canary))
        meta = json.dumps({"format": gio.LATENT_FORMAT, "model": MODEL, "space": "Z"}).encode()
        np.savez(p, latent=obj, meta=np.frombuffer(meta, dtype=np.uint8))
        return p, "pickled objects"
    if case == "raw_pickle":                     # a plain pickle renamed to .npz
        import pickle
        with open(p, "wb") as f:
            pickle.dump(Canary(str(canary)), f)
        return p, "not a readable .npz"
    raise ValueError(case)


@pytest.mark.parametrize("case", ["shape", "model", "nan", "inf", "pickle_in_npz", "raw_pickle"])
def test_bad_latent_file_is_refused(case, client, tmp_path):
    canary = tmp_path / "CANARY"
    path, phrase = _latent_case(case, tmp_path, canary)
    with pytest.raises(AppError, match=phrase):
        client.predict(handle_file(path), MODEL, api_name="/load_latent")
    assert not canary.exists(), "the server executed code from an uploaded latent file"
    assert_server_answers(client)


def test_canary_is_a_real_trap(tmp_path):
    """Without allow_pickle=False the same file would run its payload: the canary test can fail."""
    canary = tmp_path / "CANARY"
    path, _ = _latent_case("pickle_in_npz", tmp_path, canary)
    with np.load(path, allow_pickle=True) as f:
        f["latent"]
    assert canary.exists()


# --------------------------------------------------------------------------- settings out of range
@pytest.mark.parametrize("kwargs, phrase", [
    (dict(steps=0), "less than minimum value 1"),
    (dict(steps=10**9), "greater than maximum value 1000"),
    (dict(restarts=-1), "less than minimum value 1"),
    (dict(restarts=50), "greater than maximum value 8"),
    (dict(face=0), "less than minimum value 1"),
    (dict(seed=-1), "Seed must be a whole number from 0 to 4294967295, got -1"),
    (dict(weight=-1.0), "less than minimum value 0"),
    (dict(space="../../etc/passwd"), "Latent space for celeba-dcgan-64 must be one of Z; got '../../etc/passwd'"),
    (dict(space="W+"), "Latent space for celeba-dcgan-64 must be one of Z; got 'W+'"),
    (dict(model="../../etc/passwd"), "not in the list of choices"),
    (dict(model="local:../../etc/passwd.pt"), "not in the list of choices"),
])
def test_out_of_range_setting_is_refused(kwargs, phrase, client, tmp_path):
    path = write({"ok": ODD["one_pixel"]}, str(tmp_path))["ok"]
    with pytest.raises(AppError, match=phrase.replace("(", r"\(").replace("+", r"\+")):
        invert(client, path, **kwargs)
    assert_server_answers(client)


def test_unknown_model_for_latent_and_samples_is_refused(client, tmp_path):
    path = gio.save_latent(str(tmp_path / "ok.npz"), torch.zeros(1, 100), model=MODEL, space="Z")
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict(handle_file(path), "../../etc/passwd", api_name="/load_latent")
    with pytest.raises(AppError, match="not in the list of choices"):
        client.predict("1 2", "../../etc/passwd", api_name="/sample")
    with pytest.raises(AppError, match="whole numbers"):
        client.predict("1; rm -rf /", MODEL, api_name="/sample")
    assert_server_answers(client)


def _call_raw(app_url: str, api_name: str, body: str) -> list[str]:
    """POST a hand-written JSON body (gradio_client refuses NaN) to /call/<api_name>; the SSE lines."""
    base = app_url + "gradio_api/"
    r = httpx.post(base + f"call/{api_name}", content=body, headers={"content-type": "application/json"},
                   timeout=60)
    r.raise_for_status()
    with httpx.stream("GET", base + f"call/{api_name}/{r.json()['event_id']}", timeout=300) as s:
        return list(s.iter_lines())


def test_nan_and_infinite_weight_are_refused(client, app_url, tmp_path):
    path = write({"ok": ODD["one_pixel"]}, str(tmp_path))["ok"]
    with open(path, "rb") as f:
        uploaded = httpx.post(app_url + "gradio_api/upload", files={"files": ("one.png", f, "image/png")},
                              timeout=60).json()[0]
    image = json.dumps({"path": uploaded, "meta": {"_type": "gradio.FileData"}})
    for bad in ("NaN", "Infinity"):
        lines = _call_raw(app_url, "invert", f'{{"data": [{image}, "{MODEL}", "auto", 1, "Z", 1, {bad}, 1, 0, "optimize", 150]}}')
        assert "event: error" in lines, lines
        assert any("Perceptual weight must be a number from 0 to 1000" in ln for ln in lines), lines
        assert_server_answers(client)
