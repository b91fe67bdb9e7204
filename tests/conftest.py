import os

# Tests run offline (no download may reach the internet); tests of downloads unset these locally.
os.environ.setdefault("GANINV_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import factories  # noqa: E402

# Two threads in every test process, also under pytest-xdist: some results (PTI records, edits through the app
# and the CLI) are compared bit for bit with other processes', and float sums depend on the thread count.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def dcgan():
    """The real bundled DCGAN (weights from the generateme package), on CPU."""
    from ganinv.registry import load_generator
    return load_generator("celeba-dcgan-64", "cpu")


# The tiny seeded models of tests/factories.py, built once per session.  They are frozen; a test that needs
# to change weights builds its own.
@pytest.fixture(scope="session")
def tiny_sg2():
    """Tiny random StyleGAN2 (6 ws of 32 d, 16 px) for W / W+ maths."""
    return factories.tiny_stylegan2()


@pytest.fixture(scope="session")
def tiny_sg2_varied():
    """``tiny_sg2`` with non-trivial biases, noise strengths and w_avg (what a checkpoint must carry)."""
    return factories.tiny_stylegan2(varied=True)


@pytest.fixture(scope="session")
def tiny_sg2_small():
    """Tiny random StyleGAN2 with 16-d latents (6 ws, 16 px)."""
    return factories.tiny_stylegan2(**factories.SG2_SMALL)


@pytest.fixture(scope="session")
def tiny_dc():
    """Tiny random DCGAN (Z only, 8-d, 16 px) with non-trivial batch-norm statistics."""
    return factories.tiny_dcgan()


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
