"""The default face scorer: MediaPipe landmarker attributes + PyEmotion P(emotion) on its face box
+ skin tone (ITA) on its landmarks + face-api.js's age and P(male) on its 68-point crop.

One landmarker pass per image gives blendshapes, head pose, the face box and the mesh; the
emotion CNN then scores the box crop (as PyEmotion does with its own detector), the
skin-tone angle is read from the mesh's cheeks and forehead, and AgeGenderNet scores the
crop face-api.js would take around the mesh's 68 iBUG points, so every attribute is NaN on
exactly the images without a detected face.

Cost per 64 px DCGAN sample (one thread, 64 samples, CPU time): ~11 ms without age and
gender, +3 ms with them (AgeGenderNet on 112 x 112, batches of 16, channels-last).
"""
from __future__ import annotations

import numpy as np
import torch

from .age_gender import ATTRIBUTES as AGE_GENDER_ATTRIBUTES, AgeGenderModel, crops_from_observations
from .base import check_images, to_uint8_hwc
from .emotion import EMOTIONS, EmotionScorer
from .landmarker import ATTRIBUTES, LandmarkerScorer, observation_scores
from .skin import ATTRIBUTES as SKIN_ATTRIBUTES, ita_from_observations


class FaceScorer:
    """smile, mouth_open, eyes_closed, yaw, pitch (MediaPipe) + angry ... neutral (PyEmotion) + ita
    + age, male (face-api.js AgeGenderNet)."""

    name = "mediapipe-face-landmarker+pyemotion-cnn+face-api-age-gender"
    names = ATTRIBUTES + EMOTIONS + SKIN_ATTRIBUTES + AGE_GENDER_ATTRIBUTES

    def __init__(self, *, size: int = 256, min_confidence: float = 0.3):
        self.landmarker = LandmarkerScorer(size=size, min_confidence=min_confidence)
        self.emotion = EmotionScorer()
        self.age_gender = AgeGenderModel()

    def score(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        check_images(images)
        big = to_uint8_hwc(images, self.landmarker.size)      # what the landmarker sees; ITA and age read it too
        obs = [self.landmarker.observe_uint8(a) for a in big]
        rows = [observation_scores(o) for o in obs]
        out = {k: np.array([r[k] for r in rows], dtype=np.float64) for k in ATTRIBUTES}
        out.update(self.emotion.score_crops(images, [o.box if o is not None else None for o in obs]))
        out["ita"] = ita_from_observations(big, obs)
        out.update(self.age_gender.score_crops(crops_from_observations(big, obs)))
        return out
