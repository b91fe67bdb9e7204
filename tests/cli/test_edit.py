"""edit, train-boundary and discover: the same latents as the Python calls."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ganinv.actions import Source, edit
from ganinv.actions.common import grid_image
from ganinv.edit.directions import directions_root, list_directions
from ganinv.io import load_latent
from ganinv.latent import seed_latent
from installed import require

pytestmark = pytest.mark.usefixtures("one_thread")


def test_list_shows_the_shipped_directions(cli):
    r = cli("edit", "--list")
    rows = {line.split()[0]: line.split() for line in r.out.splitlines()}
    assert r.code == 0 and set(rows) == {d.name for d in list_directions("celeba-dcgan-64")}
    assert rows["smile"][1:4] == ["Z", "interfacegan", "smile"]


def test_edit_is_the_python_edit(cli, tmp_path, dcgan):
    r = cli("edit", "--seeds", 3, "--direction", "smile=2", "yaw=-1", "--no-hold", "--out", "e.png",
            "--save-latent", "e.npz")
    assert r.code == 0, r.err
    assert r.out.split() == ["e.png", "e.npz"]
    lf = load_latent(str(tmp_path / "e.npz"), G=dcgan)
    d = edit.directions_for("celeba-dcgan-64")
    want = seed_latent(dcgan, 3, "Z") + 2 * d["smile"].tensor() - d["yaw"].tensor()
    # --no-hold: only the skin tone is held, by a step along the skin-tone boundary
    assert lf.space == "Z" and lf.meta["tone"]["held"]
    assert torch.allclose(lf.latent, want + lf.meta["tone"]["step"] * d["skin_tone"].tensor(), atol=1e-5)
    same = edit.edit(Source("seed", seed=3), {"smile": 2.0, "yaw": -1.0}, hold=False, device="cpu")
    assert torch.equal(lf.latent, same.latent)
    assert lf.meta["strengths"] == {"smile": 2.0, "yaw": -1.0}
    plain = edit.edit(Source("seed", seed=3), {"smile": 2.0, "yaw": -1.0}, keep_tone=False, hold=False, device="cpu")
    assert torch.allclose(plain.latent, want, atol=1e-5)
    shown = np.asarray(Image.open(tmp_path / "e.png")).astype(int)
    assert np.abs(shown - np.asarray(grid_image(same.image)).astype(int)).max() == 0


def test_direction_file_and_plain_name_give_the_same_edit(cli, tmp_path):
    npy = f"{directions_root()}/celeba-dcgan-64/smile.npy"
    assert cli("edit", "--seeds", 1, "--direction", f"{npy}=1.5", "--save-latent", "a.npz").code == 0
    assert cli("edit", "--seeds", 1, "--direction", "smile=1.5", "--save-latent", "b.npz").code == 0
    a, b = (load_latent(str(tmp_path / f)).latent for f in ("a.npz", "b.npz"))
    assert torch.equal(a, b)


def test_sweep_is_the_python_strip(cli, tmp_path):
    r = cli("edit", "--seeds", 3, "--direction", "smile=3", "--without", "yaw", "--sweep", 5, "--out", "s.png")
    assert r.code == 0, r.err
    img = Image.open(tmp_path / "s.png")
    assert img.size == (5 * 64 + 4 * 2, 64)
    same = edit.strip(Source("seed", seed=3), "smile", strengths=[-3, -1.5, 0, 1.5, 3], without=["yaw"])
    assert np.array_equal(np.asarray(img), np.asarray(same.grid))


@pytest.mark.parametrize("argv, fragment", [
    (["--direction", "smile=1", "--layers", "0-3"], "Layers apply to W / W+ latents of a StyleGAN2 model"),
    (["--direction", "frown=1"], "No direction 'frown' for celeba-dcgan-64; available: "),
    (["--direction", "smile=1", "yaw=1", "--sweep", "5"], "--sweep shows one direction; got 2."),
    (["--direction", "smile=1", "--without", "nope"], "No direction 'nope'"),
    (["--direction", "smile=1", "--save-latent", "x.png"], "--save-latent must name a .npz file."),
])
def test_edit_refusals(cli, tmp_path, argv, fragment):
    r = cli("edit", *argv, "--out", "out/e.png")
    assert r.code == 2 and len(r.err_lines) == 1 and fragment in r.err_lines[0]
    assert not (tmp_path / "out").exists()


def test_discover_then_edit_w_plus_layers_on_stylegan2(cli, tmp_path, tiny_model):
    """SeFa components of a StyleGAN2 saved as directions; a seed is a W latent; --layers moves only those ws."""
    r = cli("discover", "--model", tiny_model, "--num", 2, "--out", "dirs", "--quiet")
    assert r.code == 0, r.err
    model = tiny_model
    names = [d.name for d in list_directions(model, root=str(tmp_path / "dirs"))]
    assert names == ["sefa-00", "sefa-01"]
    grid = Image.open(tmp_path / "dirs" / f"{model}-sefa-preview.png")
    assert grid.size == (7 * 16 + 6 * 2, 2 * 16 + 2)                  # 7 strengths x 2 components
    assert cli("edit", "--model", model, "--seeds", 5, "--direction", "sefa-00=0", "--root", "dirs",
               "--save-latent", "w.npz").code == 0
    r = cli("edit", "--model", model, "--seeds", 5, "--direction", "sefa-00=2", "--root", "dirs", "--layers", "0-1",
            "--save-latent", "wp.npz")
    assert r.code == 0, r.err
    w, wp = (load_latent(str(tmp_path / f)) for f in ("w.npz", "wp.npz"))
    assert (w.space, wp.space) == ("W", "W+") and wp.latent.shape[1] == 6
    moved = (wp.latent[0] - w.latent[0]).norm(dim=1)
    assert torch.all(moved[:2] > 1.9) and torch.all(moved[2:] == 0)          # |2 n| on ws 0, 1 only


def test_discover_dcgan_saves_directions_and_a_preview(cli, tmp_path):
    r = cli("discover", "--num", 2, "--strength", 2, "--out", "found", "--quiet")
    assert r.code == 0, r.err
    assert [d.name for d in list_directions("celeba-dcgan-64", root=str(tmp_path / "found"))] == ["sefa-00", "sefa-01"]
    assert r.out.splitlines()[0].startswith("sefa-00: eigenvalue of A^T A ")
    assert Image.open(tmp_path / "found" / "celeba-dcgan-64-sefa-preview.png").size == (7 * 64 + 12, 2 * 64 + 2)


def test_train_boundary_small(cli, tmp_path):
    require("mediapipe", "requirements.txt")
    r = cli("train-boundary", "--attribute", "smile", "yaw", "--scorer", "landmarker", "--samples", 120,
            "--without", "pitch", "--quiet", "--out", "dirs")
    assert r.code == 0, r.err
    assert [line.split(":")[0] for line in r.out.splitlines()] == ["smile-trained-n120-without-pitch",
                                                                    "yaw-trained-n120-without-pitch"]
    found = {d.name: d for d in list_directions("celeba-dcgan-64", root=str(tmp_path / "dirs"))}
    d = found["smile-trained-n120-without-pitch"]
    assert (d.attribute, d.num_samples, d.method) == ("smile", 120, "interfacegan-conditional")
    assert abs(d.extra["cos_after"][0]) < 1e-5
    meta = json.loads((tmp_path / "dirs" / "celeba-dcgan-64" / "smile-trained-n120-without-pitch.json").read_text())
    assert meta["attribute"] == "smile"


def test_edit_pastes_into_the_photo_at_full_resolution(cli, photos, tmp_path):
    """--paste PHOTO: strength 0 gives the photo back; any strength leaves pixels outside the mask untouched."""
    from ganinv.actions.faces import prepare_image
    from ganinv.faces import paste_mask
    from ganinv.registry import load_generator
    r = cli("invert", photos["astronaut"], "--method", "optimize", "--steps", 2, "--out", "inv", "--quiet")
    assert r.code == 0, r.err
    record = str(tmp_path / "inv" / "astronaut.npz")
    photo = np.asarray(Image.open(photos["astronaut"]).convert("RGB")).astype(np.float64)
    prep = prepare_image(str(photos["astronaut"]), load_generator("celeba-dcgan-64", "cpu"))
    l, t, rgt, b = (int(round(v)) for v in prep.aligned.face.box)
    for strength in (0, 3):
        r = cli("edit", "--latents", record, "--direction", f"smile={strength}", "--paste", photos["astronaut"],
                "--out", f"p{strength}.png")
        assert r.code == 0, r.err
        out = np.asarray(Image.open(tmp_path / f"p{strength}.png").convert("RGB")).astype(np.float64)
        assert out.shape == photo.shape                                   # the whole photo, its resolution
        box = (slice(t, b), slice(l, rgt))
        mse = ((out[box] - photo[box]) ** 2).mean()
        psnr = 10 * np.log10(255 ** 2 / max(mse, 1e-12))
        outside = paste_mask(prep.aligned) == 0
        assert np.array_equal(out[outside], photo[outside])
        if strength == 0:
            assert psnr >= 40, psnr
        else:
            assert psnr < 40 and "smile" in r.err                          # the edit shows; scores printed


def test_edit_holds_by_default_and_reaches_a_target(cli, tmp_path, dcgan):
    r = cli("edit", "--seeds", 0, "--target", "smile=+0.4", "--out", "t.png", "--save-latent", "t.npz")
    assert r.code == 0, r.err
    assert "Held by the closed loop: smile 0.00 → 0.4" in r.err, r.err
    same = edit.edit(Source("seed", seed=0), {}, targets={"smile": 0.4}, device="cpu")
    assert torch.equal(load_latent(str(tmp_path / "t.npz"), G=dcgan).latent, same.latent)
    bad = cli("edit", "--seeds", 0, "--target", "smile=lots")
    assert bad.code != 0 and "target change of 'smile'" in bad.err and "Traceback" not in bad.err
