"""Fixtures for the faces tests: the astronaut's one face and its alignments (the photo: tests/conftest.py)."""
from __future__ import annotations

import pytest

from face_photos import SPEC
from ganinv.faces import CELEBA_DCGAN, Aligned, align, detect_faces


@pytest.fixture(scope="module")
def face(astronaut):
    faces = detect_faces(astronaut)
    assert len(faces) == 1, "the badge on the suit must not count as a face"
    return faces[0]


@pytest.fixture(scope="module")
def base(astronaut) -> Aligned:
    """The astronaut aligned by the FFHQ recipe at 256 px."""
    return align(astronaut, SPEC)


@pytest.fixture(scope="module")
def dcgan_crop(astronaut) -> Aligned:
    """The astronaut aligned to the bundled 64 px DCGAN's template (a real alignment)."""
    return align(astronaut, CELEBA_DCGAN)
