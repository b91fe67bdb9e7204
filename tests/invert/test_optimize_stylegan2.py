"""Inversion on a tiny seeded StyleGAN2: W / W+ spaces, noise optimisation, shared model untouched."""
import pytest
import torch

from ganinv.invert.optimize import invert_optimize, noise_buffer_names
from factories import tiny_stylegan2


@pytest.fixture(scope="module")
def G():
    return tiny_stylegan2(resolution=32, channel_base=512, name="tiny")


@pytest.mark.parametrize("space", ["W", "W+"])
def test_recovers_own_sample(G, space):
    with torch.no_grad():
        target = G(G.sample_z(1, seed=3), noise_mode="const")
    before = {n: b.clone() for n, b in G.named_buffers()}
    r = invert_optimize(G, target, space=space, num_steps=80, perceptual_weight=0.0, lr=0.05, init="mean")
    assert r.latent.shape == ((1, 32) if space == "W" else (1, G.num_ws, 32))
    assert r.loss_history[-1]["mse"] < r.loss_history[0]["mse"] / 3
    assert r.noise is not None and set(r.noise) == set(noise_buffer_names(G))
    for name, n in r.noise.items():
        assert n.shape[0] == 1 and n.shape[-2:] == before[name].shape[-2:]
        assert abs(float(n.mean())) < 1e-4 and abs(float(n.std()) - 1) < 0.05   # renormalised every step
    # The shared generator is never modified.
    for name, b in G.named_buffers():
        assert torch.equal(b, before[name]), name


def test_mean_start_and_no_noise_optimisation(G):
    with torch.no_grad():
        target = G(G.sample_z(1, seed=4), noise_mode="const")
    r = invert_optimize(G, target, space="W+", num_steps=1, perceptual_weight=0.0, optimize_noise=False,
                        init="mean", initial_noise_factor=0.0, lr=1e-9)
    assert r.noise is None
    w_mean = r.latent[0, 0]
    assert torch.allclose(r.latent[0], w_mean.expand_as(r.latent[0]), atol=1e-6)   # one code broadcast
