"""Inversion on a tiny seeded StyleGAN2: W / W+ spaces, noise optimisation, shared model untouched."""
import pytest
import torch

from ganinv.invert.optimize import invert_optimize, noise_buffer_names, noise_regularizer
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


def test_noise_regularizer_is_per_run():
    """Each run's maps are squared on their own: a stacked batch gives each run's lone value."""
    g = torch.Generator().manual_seed(0)
    a = [torch.randn(1, 1, s, s, generator=g) for s in (8, 16)]
    b = [torch.nn.functional.interpolate(torch.randn(1, 1, 4, 4, generator=g), size=s, mode="bilinear")
         for s in (8, 16)]
    both = noise_regularizer([torch.cat([x, y]) for x, y in zip(a, b)])
    assert both.shape == (2,)
    assert torch.allclose(both, torch.cat([noise_regularizer(a), noise_regularizer(b)]), rtol=1e-5)


def test_batch_run_matches_per_image_runs(tiny_sg2, one_thread):
    """Issue 14.1: with the noise regulariser on, inverting two images together gives each image the
    result it gets alone (image b of a batch starts like a lone run seeded seed + b)."""
    with torch.no_grad():
        targets = tiny_sg2(tiny_sg2.sample_z(2, seed=11), noise_mode="const")
    kw = dict(space="W+", num_steps=15, perceptual_weight=0.0, init="mean", initial_noise_factor=0.0,
              noise_reg_weight=1e3, lr=0.05)
    batch = invert_optimize(tiny_sg2, targets, seed=0, **kw)
    for b in range(2):
        alone = invert_optimize(tiny_sg2, targets[b:b + 1], seed=b, **kw)
        assert torch.allclose(batch.latent[b], alone.latent[0], atol=1e-4), b
        for name, n in alone.noise.items():
            assert torch.allclose(batch.noise[name][b], n[0], atol=1e-4), (b, name)
