import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def dcgan():
    """The real bundled DCGAN (weights from the generateme package), on CPU."""
    from ganinv.registry import load_generator
    return load_generator("celeba-dcgan-64", "cpu")


@pytest.fixture(scope="session")
def astronaut():
    """scikit-image's public-domain astronaut portrait as a PIL image (512x512)."""
    from PIL import Image
    from skimage import data
    return Image.fromarray(data.astronaut())


@pytest.fixture
def rng():
    return np.random.default_rng(0)
