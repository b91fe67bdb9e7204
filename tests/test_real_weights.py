"""Real StyleGAN2 checkpoints: run only where the official files are present (or downloadable)."""
import os

import pytest
import torch

from ganinv import registry

OFFICIAL = ["stylegan2-ffhq-256", "stylegan2-ffhq-1024", "stylegan2-afhqcat-512", "stylegan2-metfaces-1024"]


def _present(name: str) -> bool:
    return registry.is_available(registry.get_spec(name))


@pytest.mark.weights
@pytest.mark.parametrize("name", OFFICIAL)
def test_official_checkpoint_loads_and_renders(name):
    if not _present(name):
        spec = registry.get_spec(name)
        pytest.skip(f"needs the official NVIDIA weights {spec.filename} in checkpoints/ (not downloadable offline)")
    G = registry.load_generator(name, "cpu")
    with torch.no_grad():
        img = G(G.sample_z(1, seed=0), truncation_psi=0.7, noise_mode="const")
    assert img.shape == (1, 3, G.resolution, G.resolution)
    assert 0.1 < float(img.std()) < 1.5                     # a real image, not noise or a flat field


@pytest.mark.network
def test_download_of_official_checkpoint(tmp_path, monkeypatch):
    if registry.offline():
        pytest.skip("offline (HF_HUB_OFFLINE / GANINV_OFFLINE set): the NVIDIA CDN cannot be reached")
    monkeypatch.setenv("GANINV_CHECKPOINTS", str(tmp_path))
    spec = registry.get_spec("stylegan2-ffhq-256")
    try:
        path = registry.resolve_weights(spec)
    except registry.ModelUnavailableError as e:
        pytest.skip(f"no network route to the NVIDIA CDN here: {e}")
    assert os.path.getsize(path) > 10_000_000 and os.path.isfile(path + ".sha256")
