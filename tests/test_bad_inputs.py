"""Bad input through the library and the CLI: a clear message, nothing lost, nothing executed.

The same catalogue goes through the HTTP API in tests/app/.
"""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from ganinv.actions.faces import prepare_image
from ganinv.io import ImageLoadError, LatentFileError, load_latent, save_latent

from bad_inputs import Canary, bad_images, odd_but_valid_images, write

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BAD = bad_images()
ODD = odd_but_valid_images()


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_image_library(name, tmp_path, dcgan):
    path = write({name: BAD[name]}, str(tmp_path))[name]
    with pytest.raises(ImageLoadError) as e:
        prepare_image(path, dcgan)
    assert BAD[name][2] in str(e.value)


@pytest.mark.parametrize("name", sorted(ODD))
def test_odd_images_work(name, tmp_path, dcgan):
    path = write({name: ODD[name]}, str(tmp_path))[name]
    prep = prepare_image(path, dcgan)
    assert prep.tensor.shape == (1, 3, 64, 64) and torch.isfinite(prep.tensor).all()


def test_exif_rotation_found_the_face(tmp_path, dcgan):
    """The EXIF-rotated portrait is stored sideways: only after applying EXIF is the face found."""
    path = write({"r": ODD["exif_rotated"]}, str(tmp_path))["r"]
    assert prepare_image(path, dcgan).aligned is not None


def test_cli_reports_each_bad_file_and_keeps_going(tmp_path):
    src = tmp_path / "in"
    write(BAD, str(src))
    write({"ok": ODD["palette"]}, str(src))
    out = tmp_path / "out"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ROOT}
    r = subprocess.run([sys.executable, "-m", "ganinv", "invert", str(src), "--out", str(out), "--steps", "2",
                        "--quiet", "--align", "center"], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    for name, (fname, _, phrase) in BAD.items():
        line = next((ln for ln in r.stderr.splitlines() if fname in ln), "")
        assert phrase in line, (name, r.stderr)
    assert "Traceback" not in r.stderr
    assert (out / "palette_recon.png").exists()


@pytest.mark.parametrize("case, phrase", [
    ("shape", "a Z latent for 'celeba-dcgan-64' has shape [N, 100], got [1, 512]"),
    ("model", "this latent was made for model 'stylegan2-ffhq-1024', not 'celeba-dcgan-64'"),
    ("nan", "the latent contains NaN or Inf values"),
    ("inf", "the latent contains NaN or Inf values"),
    ("pickle", "the latent file contains pickled objects; refused (never unpickled)"),
    ("not_npz", "not a readable .npz latent file"),
    ("truncated", "not a readable .npz latent file"),
])
def test_bad_latents(case, phrase, tmp_path, dcgan):
    p = str(tmp_path / "x.npz")
    canary = tmp_path / "CANARY"
    if case == "shape":
        save_latent(p, torch.randn(1, 512), model=dcgan.name, space="Z")
    elif case == "model":
        save_latent(p, torch.randn(1, 100), model="stylegan2-ffhq-1024", space="W+")
    elif case in ("nan", "inf"):
        z = torch.randn(1, 100)
        z[0, 3] = float("nan") if case == "nan" else float("inf")
        save_latent(p, z, model=dcgan.name, space="Z")
    elif case == "pickle":
        obj = np.empty(1, dtype=object)
        obj[0] = Canary(str(canary))
        np.savez(p, latent=obj, meta=np.frombuffer(b'{"format": "ganinv-latent/1"}', dtype=np.uint8))
    elif case == "not_npz":
        with open(p, "wb") as f:
            pickle.dump(Canary(str(canary)), f)
    elif case == "truncated":
        save_latent(p, torch.randn(1, 100), model=dcgan.name, space="Z")
        data = open(p, "rb").read()
        open(p, "wb").write(data[: len(data) // 2])
    with pytest.raises(LatentFileError) as e:
        load_latent(p, G=dcgan)
    assert phrase in str(e.value) and "\n" not in str(e.value)
    assert str(tmp_path) not in str(e.value)                  # no server path in the message
    assert not canary.exists()
