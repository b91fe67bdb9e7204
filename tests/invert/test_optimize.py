import numpy as np
import torch

from ganinv.invert.optimize import invert_optimize, noise_regularizer
from ganinv.latent import render


def test_inverts_own_samples(dcgan):
    """Z-space inversion of the bundled DCGAN's own samples recovers them closely."""
    with torch.no_grad():
        target = dcgan(dcgan.sample_z(2, seed=1234))
    r = invert_optimize(dcgan, target, num_steps=300, perceptual_weight=0.0, n_init=256, seed=0)
    psnrs = [m["psnr"] for m in r.metrics]
    assert min(psnrs) > 25 and np.mean(psnrs) > 30, psnrs
    assert r.loss_history[-1]["loss"] < r.loss_history[0]["loss"] / 5
    assert r.latent.shape == (2, 100) and r.space == "Z"
    with torch.no_grad():
        assert torch.allclose(render(dcgan, r.latent, "Z"), r.image, atol=1e-5)


def test_perceptual_term_and_progress(dcgan, astronaut):
    from ganinv.io import center_crop_resize, pil_to_tensor
    target = pil_to_tensor(center_crop_resize(astronaut, 64))
    calls = []
    r = invert_optimize(dcgan, target, num_steps=20, progress=lambda f, m: calls.append(f), progress_every=5)
    assert calls == [0.0, 0.25, 0.5, 0.75, 1.0]            # 0: set up, the first step starts (its timing too)
    assert r.metrics[0]["perceptual_metric"] in ("lpips-vgg", "stlpips-vgg")
    assert r.loss_history[0]["perceptual"] > 0
    assert r.settings["num_steps"] == 20 and r.settings["space"] == "Z"


def test_best_of_n_start_beats_mean(dcgan):
    """The DCGAN renders a featureless blur at z = 0: best-of-N starts far closer."""
    with torch.no_grad():
        target = dcgan(dcgan.sample_z(1, seed=77))
    a = invert_optimize(dcgan, target, num_steps=1, init="mean", perceptual_weight=0.0)
    b = invert_optimize(dcgan, target, num_steps=1, init="best_of_n", perceptual_weight=0.0)
    assert b.metrics[0]["psnr"] > a.metrics[0]["psnr"] + 2


def test_seeded_runs_repeat(dcgan):
    with torch.no_grad():
        target = dcgan(dcgan.sample_z(1, seed=3))
    a = invert_optimize(dcgan, target, num_steps=5, perceptual_weight=0.0, seed=1)
    b = invert_optimize(dcgan, target, num_steps=5, perceptual_weight=0.0, seed=1)
    assert torch.equal(a.latent, b.latent)


def test_restarts_keep_best(dcgan):
    with torch.no_grad():
        target = dcgan(dcgan.sample_z(1, seed=9))
    one = invert_optimize(dcgan, target, num_steps=30, perceptual_weight=0.0, restarts=1)
    three = invert_optimize(dcgan, target, num_steps=30, perceptual_weight=0.0, restarts=3)
    assert three.latent.shape == (1, 100)
    assert three.metrics[0]["psnr"] >= one.metrics[0]["psnr"] - 0.5


def test_rejects_bad_targets(dcgan):
    import pytest
    with pytest.raises(AssertionError):
        invert_optimize(dcgan, torch.zeros(1, 3, 32, 32), num_steps=1)
    with pytest.raises(ValueError, match="NaN"):
        invert_optimize(dcgan, torch.full((1, 3, 64, 64), float("nan")), num_steps=1)
    with pytest.raises(ValueError, match="supports"):
        invert_optimize(dcgan, torch.zeros(1, 3, 64, 64), space="W+", num_steps=1)


def test_noise_regularizer_prefers_white_noise():
    g = torch.Generator().manual_seed(0)
    white = torch.randn(1, 1, 32, 32, generator=g)
    smooth = torch.nn.functional.interpolate(torch.randn(1, 1, 4, 4, generator=g), size=32, mode="bilinear")
    smooth = (smooth - smooth.mean()) / smooth.std()
    assert float(noise_regularizer([white])) < float(noise_regularizer([smooth])) / 10
    assert np.isfinite(float(noise_regularizer([white])))


def test_cached_target_features_equal_the_metric():
    """The target's half of LPIPS computed once gives the metric's value and gradient (64 px: no resize)."""
    from ganinv.invert.optimize import perceptual_to
    from ganinv.losses import perceptual_metric
    p = perceptual_metric("cpu")
    g = torch.Generator().manual_seed(0)
    y = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    x = (torch.rand(2, 3, 64, 64, generator=g) * 2 - 1).requires_grad_(True)
    plain, cached = p(x, y), perceptual_to(p, y)(x)
    assert torch.allclose(plain, cached, atol=1e-6) and plain.shape == cached.shape == (2,)
    g_plain, = torch.autograd.grad(plain.sum(), x)
    g_cached, = torch.autograd.grad(cached.sum(), x)
    assert torch.allclose(g_plain, g_cached, atol=1e-7)
