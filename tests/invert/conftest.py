import pytest
import torch


@pytest.fixture
def one_thread():
    """Small-batch inversion and tiny models run fastest on one thread (two threads spin on a busy
    shared CPU).  Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
