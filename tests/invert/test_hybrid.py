"""In-domain (hybrid) inversion and semantic diffusion with the shipped DCGAN encoder."""
from __future__ import annotations

import os

import pytest
import torch

from ganinv.invert.semantic_diffusion import center_box_mask, paste, semantic_diffusion
from ganinv.invert.encoder import Encoder, EncoderConfig, encoder_path, load_encoder
from ganinv.invert.hybrid import invert_hybrid, steps_to_reach
from ganinv.invert.optimize import invert_optimize


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def encoder(dcgan):
    path = encoder_path("celeba-dcgan-64")
    assert os.path.isfile(path), f"the shipped encoder {path} is missing (it is tracked in git)"
    return load_encoder(path, G=dcgan)


@pytest.fixture(scope="module")
def samples(dcgan):
    with torch.no_grad():
        return dcgan(dcgan.sample_z(4, seed=2024))                   # held-out: training never uses seeds


def test_hybrid_reaches_plain_quality_in_a_quarter_of_the_steps(dcgan, encoder, samples):
    steps = 200
    plain = invert_optimize(dcgan, samples, space="Z", num_steps=steps, perceptual_weight=0, n_init=128)
    hybrid = invert_hybrid(dcgan, encoder, samples, num_steps=steps // 4, l_vgg=0)      # L-BFGS, default l_dom
    goal = float((plain.image - samples).square().mean())            # plain's pixel MSE after all its updates
    needed = steps_to_reach(hybrid.loss_history, goal)
    assert needed is not None and needed <= steps // 4, (goal, [round(r["mse"], 5) for r in hybrid.loss_history])
    assert hybrid.loss_history[0]["step"] == 0                        # row 0 scores the encoder's start E(x)
    with torch.no_grad():
        start_mse = float((dcgan(encoder(samples)) - samples).square().mean())
    assert hybrid.loss_history[0]["mse"] == pytest.approx(start_mse, rel=1e-4)
    assert hybrid.space == "Z" and hybrid.latent.shape == (4, dcgan.z_dim)


def test_lbfgs_keeps_the_best_code_within_the_budget(dcgan, encoder, samples):
    r = invert_hybrid(dcgan, encoder, samples[:2], num_steps=12, l_vgg=0, l_dom=0.01)
    assert [row["step"] for row in r.loss_history] == list(range(13))   # one row per evaluation, no more
    losses = [row["loss"] for row in r.loss_history]
    assert all(b <= a for a, b in zip(losses, losses[1:])) and losses[-1] < losses[0]
    with torch.no_grad():                                             # the returned code is the recorded best
        mse = float((dcgan(r.latent) - samples[:2]).square().mean())
    assert mse == pytest.approx(r.loss_history[-1]["mse"], rel=1e-3)


def test_adam_option_is_the_papers_optimiser(dcgan, encoder, samples):
    r = invert_hybrid(dcgan, encoder, samples[:2], num_steps=10, optimizer="adam", l_vgg=0, lr=0.03)
    assert len(r.loss_history) == 11 and r.loss_history[-1]["mse"] < r.loss_history[0]["mse"]
    assert r.settings["optimizer"] == "adam"
    with pytest.raises(ValueError, match="optimizer"):
        invert_hybrid(dcgan, encoder, samples[:1], num_steps=1, optimizer="sgd")
    with pytest.raises(ValueError, match="NaN"):
        invert_hybrid(dcgan, encoder, torch.full_like(samples[:1], float("nan")), num_steps=1)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_domain_regulariser_keeps_codes_closer_to_encoder_fixed_point(dcgan, encoder, samples, optimizer):
    free = invert_hybrid(dcgan, encoder, samples, num_steps=20, l_vgg=0, l_dom=0.0, optimizer=optimizer)
    reg = invert_hybrid(dcgan, encoder, samples, num_steps=20, l_vgg=0, l_dom=5.0, optimizer=optimizer)
    assert reg.loss_history[-1]["domain"] < free.loss_history[-1]["domain"]
    assert reg.loss_history[-1]["mse"] > free.loss_history[-1]["mse"]   # the trade-off: in-domain costs fidelity


def test_mask_ignores_pixels_outside_it(dcgan):
    torch.manual_seed(0)
    E = Encoder(EncoderConfig.for_generator(dcgan))                   # any encoder: only E(G(z)) is used
    x = dcgan(dcgan.sample_z(1, seed=1))
    mask = center_box_mask(64, 0.5)
    garbage = paste(x, torch.rand_like(x) * 2 - 1, mask)             # same pixels inside the mask only
    start = dcgan.sample_z(1, seed=2)
    a = invert_hybrid(dcgan, E, x, num_steps=5, l_vgg=0, mask=mask, init=start)
    b = invert_hybrid(dcgan, E, garbage, num_steps=5, l_vgg=0, mask=mask, init=start)
    torch.testing.assert_close(a.latent, b.latent)


def test_semantic_diffusion_blends_the_pasted_region(dcgan, encoder):
    with torch.no_grad():
        target, context = dcgan(dcgan.sample_z(2, seed=31)).split(1)
    r = semantic_diffusion(dcgan, encoder, target, context, num_steps=30, l_dom=0.1, lr=0.03)
    inside = r.mask > 0.999
    err_in = float((r.image - target).square().mean(1, keepdim=True)[inside].mean())
    with torch.no_grad():
        start = dcgan(encoder(r.composite))                           # the encoder's start alone
    err_start = float((start - target).square().mean(1, keepdim=True)[inside].mean())
    assert err_in < err_start                                          # the region was fitted
    assert r.composite.shape == r.image.shape == (1, 3, 64, 64)
    assert torch.isfinite(r.image).all() and r.image.abs().max() <= 1


def test_hybrid_in_w_plus_on_tiny_stylegan2(tiny_sg2):
    G = tiny_sg2
    torch.manual_seed(0)                                               # the encoder's random init
    E = Encoder(EncoderConfig.for_generator(G, space="W+", channel_base=8), G.w_avg).eval()
    with torch.no_grad():
        x = G(G.sample_z(2, seed=1), noise_mode="const")
    r = invert_hybrid(G, E, x, num_steps=15, l_vgg=0, l_dom=0.1, lr=0.05)
    assert r.space == "W+" and r.latent.shape == (2, G.num_ws, G.w_dim)
    assert r.loss_history[-1]["mse"] < r.loss_history[0]["mse"]
    with pytest.raises(ValueError, match="does not fit"):
        invert_hybrid(G, Encoder(EncoderConfig(resolution=32, model="other")), x, num_steps=1)
