import torch

from ganinv.losses import image_metrics, perceptual_metric, psnr, ssim


def test_psnr_known_value():
    x = torch.zeros(1, 3, 8, 8)
    y = x + 0.2                                   # 0.1 in [0, 1] units -> MSE 0.01 -> 20 dB
    assert abs(float(psnr(x, y)) - 20.0) < 1e-3


def test_ssim_matches_scikit_image(astronaut):
    from skimage.metrics import structural_similarity
    from ganinv.io import pil_to_tensor
    x = pil_to_tensor(astronaut.resize((64, 64)))
    g = torch.Generator().manual_seed(0)
    y = (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    assert torch.allclose(ssim(x, x), torch.ones(1), atol=1e-5)
    ref = structural_similarity(((x[0] + 1) / 2).permute(1, 2, 0).numpy(), ((y[0] + 1) / 2).permute(1, 2, 0).numpy(),
                                channel_axis=2, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False)
    assert abs(float(ssim(x, y)) - ref) < 2e-3, (float(ssim(x, y)), ref)
    assert float(ssim(x, y)) < 0.9


def test_perceptual_metric_orders_distortions(astronaut):
    from ganinv.io import pil_to_tensor
    x = pil_to_tensor(astronaut.resize((64, 64)))
    m = perceptual_metric("cpu")
    assert m.name in ("lpips-vgg", "stlpips-vgg")
    g = torch.Generator().manual_seed(0)
    small, large = (x + s * torch.randn(x.shape, generator=g) for s in (0.05, 0.4))
    d0, d1, d2 = float(m(x, x)), float(m(x, small.clamp(-1, 1))), float(m(x, large.clamp(-1, 1)))
    assert d0 < 1e-6 < d1 < d2
    # Differentiable: the loss drives optimisation.
    y = small.clone().requires_grad_(True)
    m(x, y).sum().backward()
    assert y.grad is not None and y.grad.abs().sum() > 0


def test_metrics_name_their_perceptual_metric():
    x = torch.zeros(1, 3, 64, 64)
    (row,) = image_metrics(x, x + 0.1)
    assert set(row) == {"psnr", "ssim", "perceptual", "perceptual_metric"}
