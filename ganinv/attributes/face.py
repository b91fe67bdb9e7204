"""The default face scorer: MediaPipe landmarker attributes + PyEmotion P(emotion) on its face box.

One landmarker pass per image gives blendshapes, head pose and the face box; the emotion
CNN then scores the box crop (as PyEmotion does with its own detector), so both kinds of
attribute are NaN on exactly the images without a detected face.
"""
from __future__ import annotations

import numpy as np
import torch

from .base import check_images
from .emotion import EMOTIONS, EmotionScorer
from .landmarker import ATTRIBUTES, LandmarkerScorer, observation_scores


class FaceScorer:
    """smile, mouth_open, eyes_closed, yaw, pitch (MediaPipe) + angry ... neutral (PyEmotion)."""

    name = "mediapipe-face-landmarker+pyemotion-cnn"
    names = ATTRIBUTES + EMOTIONS

    def __init__(self, *, size: int = 256, min_confidence: float = 0.3):
        self.landmarker = LandmarkerScorer(size=size, min_confidence=min_confidence)
        self.emotion = EmotionScorer()

    def score(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        check_images(images)
        obs = self.landmarker.observe(images)
        rows = [observation_scores(o) for o in obs]
        out = {k: np.array([r[k] for r in rows], dtype=np.float64) for k in ATTRIBUTES}
        out.update(self.emotion.score_crops(images, [o.box if o is not None else None for o in obs]))
        return out
