import os

# Tests run offline (no download may reach the internet); tests of downloads unset these locally.
os.environ.setdefault("GANINV_OFFLINE", "1")
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
def tiny_sg2():
    """Seeded tiny random StyleGAN2 (6 ws, 16 px; tests/factories.py) for W / W+ maths."""
    from factories import tiny_stylegan2
    return tiny_stylegan2()


@pytest.fixture(scope="session")
def astronaut():
    """scikit-image's public-domain astronaut portrait as a PIL image (512x512)."""
    from PIL import Image
    from skimage import data
    return Image.fromarray(data.astronaut())


@pytest.fixture
def one_thread():
    """Small-batch inversion and tiny models run fastest on one thread (two threads spin on a busy
    shared CPU).  Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
