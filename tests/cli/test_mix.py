"""morph, mix (crossover / feature / expression) and diffuse."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

from ganinv.actions import Source, mix
from ganinv.actions.common import grid_image
from ganinv.io import load_latent

pytestmark = pytest.mark.usefixtures("one_thread")


def test_morph_gif_frames(cli, tmp_path):
    r = cli("morph", "--seeds", 1, 2, "--frames", 4, "--no-boomerang", "--min-size", 64, "--out", "m.gif", "--quiet")
    assert r.code == 0, r.err
    assert r.out.strip() == "m.gif" and "slerp" in r.err                  # Z latents: slerp by default
    gif = Image.open(tmp_path / "m.gif")
    assert (gif.n_frames, gif.size) == (4, (64, 64))
    assert cli("morph", "--seeds", 1, 2, "--frames", 4, "--method", "lerp", "--out", "b/m.gif", "--quiet").code == 0
    gif = Image.open(tmp_path / "b" / "m.gif")
    assert (gif.n_frames, gif.size) == (4 + 2, (256, 256))                 # boomerang back, upscaled to 256 px
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "m.gif"]    # no .mp4 unless asked for


def test_morph_refuses_other_formats(cli, tmp_path):
    r = cli("morph", "--out", "m.avi")
    assert r.code == 2 and r.err_lines == ["error: --out must end in .gif or .mp4, got 'm.avi'."]


@pytest.mark.parametrize("mode, seeds, panels", [("feature", [1, 2], 3), ("expression", [1, 2, 3], 4)])
def test_mix_sheet_is_inputs_and_result(cli, tmp_path, mode, seeds, panels):
    r = cli("mix", "--mode", mode, "--seeds", *seeds, "--out", "x.png")
    assert r.code == 0, r.err
    sheet = Image.open(tmp_path / "x.png")
    assert sheet.size == (panels * 64 + (panels - 1) * 2, 64)
    same = mix.mix([Source("seed", seed=s) for s in seeds], mode=mode)
    result = sheet.crop(((panels - 1) * 66, 0, (panels - 1) * 66 + 64, 64))
    assert result.tobytes() == grid_image(same.image).tobytes()


@pytest.mark.parametrize("argv, fragment", [
    (["--mode", "crossover", "--seeds", 1, 2], "Layer crossover swaps W+ codes, and celeba-dcgan-64 has a single code"),
    (["--mode", "feature", "--seeds", 1, 2, 3], "Mode 'feature' combines 2 latents, got 3."),
    (["--mode", "expression", "--seeds", 1, 2], "Mode 'expression' combines 3 latents, got 2."),
    (["--layer", "output"], "Feature layer must be one of layer1, layer2, layer3, layer4"),
    (["--region", "middle"], "Region must be one of"),
])
def test_mix_refusals(cli, tmp_path, argv, fragment):
    r = cli("mix", *argv, "--out", "out/x.png")
    assert r.code == 2 and len(r.err_lines) == 1 and fragment in r.err_lines[0]
    assert not (tmp_path / "out").exists()


def test_crossover_on_stylegan2_takes_the_layers_from_b(cli, tmp_path, tiny_model):
    r = cli("mix", "--model", tiny_model, "--mode", "crossover", "--seeds", 1, 2, "--layers", "0-5", "--out", "x.png")
    assert r.code == 0, r.err
    sheet = Image.open(tmp_path / "x.png")
    assert sheet.size == (3 * 16 + 4, 16)
    b, result = sheet.crop((18, 0, 34, 16)), sheet.crop((36, 0, 52, 16))
    assert b.tobytes() == result.tobytes()                                  # every layer from B: B itself


def test_diffuse_writes_sheet_image_and_latent(cli, photos, tmp_path, dcgan):
    r = cli("diffuse", photos["astronaut"], photos["astronaut"], "--steps", 2, "--out", "d", "--quiet")
    assert r.code == 0, r.err
    d = tmp_path / "d"
    assert sorted(p.name for p in d.iterdir()) == ["astronaut-into-astronaut-sheet.png",
                                                   "astronaut-into-astronaut.npz", "astronaut-into-astronaut.png"]
    assert Image.open(d / "astronaut-into-astronaut-sheet.png").size == (4 * 64 + 6, 64)
    lf = load_latent(str(d / "astronaut-into-astronaut.npz"), G=dcgan)
    assert lf.meta["method"] == "semantic diffusion" and lf.latent.shape == (1, dcgan.z_dim)
    assert "2 evaluations" in r.err and torch.isfinite(lf.latent).all()
