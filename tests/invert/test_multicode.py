"""Multi-code GAN prior: equivalence with plain inversion, restoration (real bundled DCGAN)."""
from __future__ import annotations

import pytest
import torch

from ganinv.invert.multicode import (Degradation, center_hole_mask, compose, invert_multicode, restore)
from ganinv.invert.optimize import invert_optimize


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def sample(dcgan):
    with torch.no_grad():
        return dcgan(dcgan.sample_z(1, seed=7))                     # [1, 3, 64, 64]


def test_one_code_at_input_layer_is_plain_inversion(dcgan, sample):
    plain = invert_optimize(dcgan, sample, space="Z", num_steps=15, perceptual_weight=0, n_init=32)
    multi = invert_multicode(dcgan, sample, n_codes=1, layer="input", num_steps=15, learn_alpha=False, n_init=32)
    torch.testing.assert_close(multi.latents[:, 0], plain.latent, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(multi.image, plain.image, atol=1e-4, rtol=1e-4)
    assert multi.metrics[0]["psnr"] == pytest.approx(plain.metrics[0]["psnr"], abs=1e-3)
    assert multi.alphas.shape == (1, 1, dcgan.z_dim) and torch.all(multi.alphas == 1)


def test_compose_mean_of_identical_codes_is_the_plain_image(dcgan):
    z = dcgan.sample_z(1, seed=3)
    codes = z[:, None].repeat(1, 3, 1)                               # [1, 3, z_dim], three equal codes
    c = dcgan.layer_shape("layer2")[0]
    with torch.no_grad():
        img = compose(dcgan, codes, torch.full((1, 3, c), 1 / 3), "layer2", "Z")
        torch.testing.assert_close(img, dcgan(z), atol=1e-5, rtol=1e-4)


def test_inpainting_keeps_known_pixels_and_fills_the_hole(dcgan, sample):
    mask = center_hole_mask(64, 0.35)                                # 1 = known, 0 = hole
    r = restore(dcgan, sample, "inpaint", mask=mask, n_codes=4, layer="layer2", num_steps=120, n_init=64,
                clean=sample)
    err = (r.image - sample).square().mean(1, keepdim=True)          # [1, 1, 64, 64]
    known = float((err * mask).sum() / mask.sum())
    hole = float((err * (1 - mask)).sum() / (1 - mask).sum())
    # Baseline: fill the hole with the mean colour of the known pixels.
    mean_colour = (sample * mask).sum((2, 3), keepdim=True) / mask.sum()
    flat = float(((mean_colour - sample).square().mean(1, keepdim=True) * (1 - mask)).sum() / (1 - mask).sum())
    assert known < 0.01, known                                       # > 26 dB on the known pixels
    assert hole < 0.6 * flat, (hole, flat)                           # the hole is filled with face content
    assert r.clean_metrics and r.settings["degradation"] == "inpaint"


def test_colorize_and_superres_match_their_observations(dcgan, sample):
    c = restore(dcgan, sample, "colorize", n_codes=4, layer="layer2", num_steps=80, n_init=64)
    assert c.metrics[0]["psnr"] > 22                                  # grey(x_inv) matches the grey input
    assert float(c.image.std(1).mean()) > 0.02                        # and the result has colour
    low = torch.nn.functional.avg_pool2d(sample, 4)                   # [1, 3, 16, 16]
    s = restore(dcgan, low, "superres", factor=4, n_codes=4, layer="layer2", num_steps=80, n_init=64)
    assert s.image.shape == (1, 3, 64, 64) and s.metrics[0]["psnr"] > 22


def test_shape_errors_are_clear(dcgan, sample):
    with pytest.raises(ValueError, match="does not match the degradation"):
        invert_multicode(dcgan, sample, degradation=Degradation.superres(4), num_steps=1, n_init=8)
    with pytest.raises(ValueError, match="unknown layer"):
        invert_multicode(dcgan, sample, layer="nope", num_steps=1)
    with pytest.raises(ValueError, match="needs a mask"):
        restore(dcgan, sample, "inpaint")


def test_tiny_stylegan2_multicode_lowers_loss(tiny_sg2):
    G = tiny_sg2
    torch.manual_seed(0)
    with torch.no_grad():
        x = G(G.sample_z(1, seed=1), noise_mode="const")
    r = invert_multicode(G, x, n_codes=3, layer="b8", num_steps=25, lr=0.05, n_init=16)
    assert r.space == "W" and r.latents.shape == (1, 3, 32)
    assert r.alphas.shape == (1, 3, G.layer_shape("b8")[0])
    assert r.loss_history[-1]["mse"] < r.loss_history[0]["mse"]
